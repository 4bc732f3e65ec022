"""Experiment tracking: projects' runs, params, metrics, tags and artifacts."""
