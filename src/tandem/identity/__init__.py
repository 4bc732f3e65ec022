"""Users, API tokens, web sessions and project membership."""
