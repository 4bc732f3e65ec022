"""MLflow's REST API over tandem's services (issue 24; ADR 34): the real `mlflow` client, with
`MLFLOW_TRACKING_URI` pointed at a tandem server, logs into tandem unchanged."""
