"""The floor of a Python web framework: a bare FastAPI app that parses the JSON body and returns
a constant (no model). Runs in its own venv (/tmp/benchenv-fastapi: fastapi, uvicorn[standard]),
one uvicorn worker, no access log.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/invocations")
async def invocations(request: Request) -> dict[str, list[int]]:
    await request.json()
    return {"predictions": [1]}


@app.get("/ping")
async def ping() -> str:
    return ""


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=a.port, access_log=False, log_level="warning")
