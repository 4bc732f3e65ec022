"""The server: `create_app(settings)` mounts every domain's REST router over one service layer."""
