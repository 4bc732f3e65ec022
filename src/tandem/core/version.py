"""The version of tandem, for every layer to name (the package root re-exports it)."""

__version__ = "0.1.0"
