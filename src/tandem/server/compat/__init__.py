"""Compatibility faces: other tools' wire protocols translated onto tandem's services (DESIGN's
`server/compat`). Each is a thin adapter: no store of its own, no copy of a rule."""
