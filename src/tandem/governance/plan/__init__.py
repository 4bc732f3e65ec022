"""The plan: a project's brief, success criteria, RACI, the scorecard that checks a model version
against the criteria, and the project as code (project.yaml)."""
