"""`tandem serve`: bad options are one line on stderr and exit code 2, before anything starts."""

from __future__ import annotations

from typing import Any

import pytest

from tandem.serving.main import ServeOptions


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "0"], "error: invalid port 0: use 1-65535"),
        (["--port", "70000"], "error: invalid port 70000: use 1-65535"),
        (["--workers", "0"], "error: invalid worker count 0: use 1 or more"),
        (["--backend", "spark"], "error: unknown backend 'spark': use local or ray"),
        (["--poll", "0"], "error: invalid poll interval 0s: use 0.05 to 3600"),
        (["--queue", "0"], "error: invalid queue size 0: use 1 or more"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(tandem: Any, args: list[str], message: str):
    outcome = tandem("serve", "prod", "-p", "churn", *args)
    assert outcome.code == 2
    assert outcome.stderr_lines == [message]


def test_no_project_is_one_line_and_exit_2(tandem: Any):
    outcome = tandem("serve", "prod")
    assert outcome.code == 2
    assert outcome.stderr_lines[0].startswith("error: no project given: pass --project")


def test_options_travel_to_the_workers_unchanged():
    options = ServeOptions("prod", "churn", port=9000, workers=3, backend="ray", poll_s=0.5)
    assert ServeOptions.from_json(options.to_json()) == options


def test_an_endpoint_that_does_not_exist_is_exit_3(tandem: Any, settings):
    from tandem.sdk.client import Client

    Client(settings=settings).projects.create("churn")
    outcome = tandem("serve", "nope", "-p", "churn", "--port", "18999")
    assert outcome.code == 3
    assert len(outcome.stderr_lines) == 1
    assert outcome.stderr_lines[0].startswith("error: ") and "nope" in outcome.stderr_lines[0]
