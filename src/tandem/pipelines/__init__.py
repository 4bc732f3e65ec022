"""Pipelines: stages declared in `tandem.yaml`, run in dependency order, skipped when their
inputs are unchanged, each execution a tracked run with its outputs in the blob store."""
