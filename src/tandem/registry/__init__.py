"""Model registry: models, their versions, aliases, lifecycle stages and model files."""
