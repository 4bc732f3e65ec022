"""Datasets: versions, profiles, contracts, validation, PII scan, catalog and drift."""
