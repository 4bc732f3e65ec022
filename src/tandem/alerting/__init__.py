"""Alerting: monitors' breaches as alerts with Prometheus' rule semantics, grouped, inhibited,
silenced and repeated as Alertmanager does, routed to the people the project's RACI names and
delivered in the app, to Slack-compatible webhooks and to PagerDuty (docs/alerts.md)."""
