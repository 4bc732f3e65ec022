"""Project governance: the brief, success criteria, RACI and the scorecard that checks a model
version against the criteria."""
