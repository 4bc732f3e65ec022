"""Lineage: the graph of what was made from what (dataset versions, runs, artifacts, model
versions, evaluations), walked upstream and downstream."""
