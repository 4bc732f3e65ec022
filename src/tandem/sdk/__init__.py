"""The Python SDK: a client of the REST API, remote over HTTP or embedded in process."""
