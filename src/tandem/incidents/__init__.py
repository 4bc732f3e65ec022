"""Incidents and blameless postmortems: severity, status, commander and responders, a timeline
filled from alerts, deployment events, gate decisions and comments, the project's playbook
ticked step by step, and the review that follows with its action items (docs/incidents.md)."""
