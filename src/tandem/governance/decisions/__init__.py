"""Decision records (ADR style): proposed or accepted, immutable once accepted, superseded by a
newer one. See `service`."""
