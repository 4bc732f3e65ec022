"""Outcomes: what happened after a prediction. Labels that arrive late, joined to the logged
predictions by request id, and business KPIs posted per version and window; the realised
performance per window computed from them (docs/monitoring.md)."""
