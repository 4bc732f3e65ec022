"""Core: ids, clock, settings, references, validation rules, principals and paging. No I/O beyond
reading configuration files."""
