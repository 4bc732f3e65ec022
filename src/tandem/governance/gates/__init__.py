"""Gates on model version stages: their checklists (`checklist`, a registry of items), sign-offs,
attestations and criterion waivers. See `service`."""
