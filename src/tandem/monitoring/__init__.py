"""Monitoring: monitors over an endpoint's live traffic (feature and prediction drift, the
training data's contract, realised and estimated performance, SLOs, business KPIs), evaluated
per window on a schedule, each window's result kept (docs/monitoring.md)."""
