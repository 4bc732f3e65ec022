"""The web UI: server-rendered pages over the same services (ADR 0009)."""
