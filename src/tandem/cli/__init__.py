"""The `tandem` command line: a Typer root mounting each domain's sub-app, over the SDK."""
