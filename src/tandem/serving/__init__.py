"""The serving gateway: a face of its own (like the CLI and the web UI), run by `tandem serve`.

It talks to the hub only through the SDK (`tandem.sdk`, embedded or remote): the data plane
(`app`, `router`, `loader`, `formats`) answers predictions; the control plane (`control`,
`stats`, `predlog`) keeps it on the endpoint's policy, reports its figures and ships the
prediction log; `main` and `ray_backend` run it (docs/deployments.md, ADR 21).
"""
