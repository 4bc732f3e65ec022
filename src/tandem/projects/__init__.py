"""Projects: the unit of permission; every run, dataset and model belongs to one."""
