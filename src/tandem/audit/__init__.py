"""The append-only audit log: every write and every artifact download, who, what, when, where."""
