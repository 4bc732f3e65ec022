"""Schemathesis over the whole API (issue 20, item 13): every operation of the OpenAPI document
is called with data generated from its own schema, as a workspace admin over HTTP on loopback,
and every answer must match the document: no 5xx, a declared status, a declared content type,
a body of the declared schema, declared headers. A new route, or a change to one, that breaks
its contract fails here.

Bounded so that it stays a unit test: a few derandomized examples per operation and mode, no
shrinking, a timeout on every request. (Measured: about 2-3 minutes on SQLite and on
PostgreSQL on a busy 2-core machine.) TANDEM_TEST_FULL=1 generates more cases. Everything it
writes goes to the test's workspace in tmp_path; Hypothesis keeps no example database."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from api_world import PROJECT, ContractWorld, build_contract_world
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

# CI's short form; TANDEM_TEST_FULL=1 generates more cases for every operation
FULL = os.environ.get("TANDEM_TEST_FULL", "") == "1"
EXAMPLES = {
    GenerationMode.POSITIVE: 25 if FULL else 3,
    GenerationMode.NEGATIVE: 10 if FULL else 1,
}
REQUEST_TIMEOUT = 20  # seconds; a request that takes longer is a failure, not a hang
# the prediction log's batches are bytes, as an upload's are (random ones: not Arrow, a 422)
schemathesis.serializer.alias("application/vnd.apache.arrow.stream", "application/octet-stream")

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.fixture
def world(services) -> ContractWorld:
    return build_contract_world(services)


def fuzz(
    operation: Any,
    mode: GenerationMode,
    call: Callable[[Any], Any],
    failures: dict[str, set[str]],
) -> None:
    """Call `operation` with a few generated cases; record (not raise) what fails, so that one
    run reports every broken operation at once."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,  # the same cases on every run
        database=None,  # nothing written to .hypothesis/
        deadline=None,  # timing is the request timeout's job
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        # most cases act on the seeded project, so they get past "no such project"
        if case.path_parameters and "project" in case.path_parameters:
            case.path_parameters["project"] = PROJECT
        response = call(case)
        try:
            case.validate_response(response, checks=CHECKS)
        except BaseException as exc:  # schemathesis raises its failures as an exception group
            if isinstance(exc, KeyboardInterrupt):
                raise
            summary = " | ".join(str(exc).strip().splitlines()[:8])
            failures.setdefault(f"{operation.label} ({mode})", set()).add(
                f"{response.status_code}: {summary[:600]}"
            )

    with contextlib.suppress(Unsatisfiable):  # nothing to make invalid (no parameters, no body)
        run()


def test_every_operation_keeps_its_contract(app, world: ContractWorld, live_url: str) -> None:
    schema = schemathesis.openapi.from_dict(app.openapi())

    def call(case: Any) -> Any:
        return case.call(base_url=live_url, headers=world.headers, timeout=REQUEST_TIMEOUT)

    failures: dict[str, set[str]] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in EXAMPLES:
            fuzz(operation, mode, call, failures)
    assert operations > 100  # the whole API, not a part of it
    report = "\n".join(f"{label}\n    " + "\n    ".join(sorted(found)) for label, found in
                       sorted(failures.items()))  # fmt: skip
    assert not failures, f"{len(failures)} operations break their contract:\n{report}"
