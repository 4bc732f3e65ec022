"""Garbage collection: purge what was soft-deleted, then free blobs nothing references."""
