"""The serving gateway: a face of its own process that answers predictions for one endpoint.

Data plane (this lane): `app.Gateway` is a raw ASGI app (MLflow `/invocations`, the Open
Inference Protocol v2, a blue-green preview URL, health and Prometheus `/metrics`) over an
immutable `router.RoutingTable` that `Gateway.swap` replaces atomically when the policy changes.
Requests are parsed by `formats`, checked against the version's signature by `signature`, and
answered by a `predictor.Predictor` that `loader.ModelLoader` builds from a model downloaded
through the SDK (safe formats only; pickle only where the deployer trusted the version). Every
answer is counted by a `recorder.Recorder` (stats windows for the hub's controller, and the
prediction log), and mirrored to shadow deployments by `shadow.ShadowMirror` after the client
has its answer.

Control plane (`control`, `predlog`): polls the policy, loads models, swaps tables, reports
windows and ships the prediction log. `main` runs it all on uvicorn (`tandem serve`), and
`ray_backend` on Ray Serve. The gateway talks to the hub only through the SDK.
"""
