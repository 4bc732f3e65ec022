"""Durability under `kill -9`, in CI: `scripts/chaos` (benchmarks/chaos.py) kills a real
`tandem server` a few times under concurrent SDK writers, on the database of the pass (a
dedicated `tandem_chaos_<pid>` database on the PostgreSQL server of TANDEM_TEST_DATABASE_URL,
dropped afterwards), and finds every acknowledged point stored exactly once. The long runs
(200 kills, 32 writers) are in BENCHMARKS.md; docs/chaos.md says how to run them. CI runs a short
form (3 kills, 8 writers); TANDEM_TEST_FULL=1 runs 20 kills under 32 writers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tandem.core.config import Settings
from tandem.sdk.client import Client

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("TANDEM_TEST_DATABASE_URL")

pytestmark = pytest.mark.slow


def test_kill_9_under_writers_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    database = ["--database", "postgres", "--database-url", PG_URL] if PG_URL else []
    # CI's short form; TANDEM_TEST_FULL=1 runs the script's own long one (20 kills, 32 writers)
    full = os.environ.get("TANDEM_TEST_FULL", "") == "1"
    kills = 20 if full else 3
    form = ["--kills", str(kills), "--writers", "32" if full else "8"]
    form += ["--max-uptime", "1.5" if full else "0.5", "--max-seconds", "900" if full else "150"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env["PYTHON"] = sys.executable  # the suite's interpreter (and PYTHONPATH, if set)
    done = subprocess.run(
        [str(ROOT / "scripts" / "chaos"), *database, *form, "--seed", "7", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1200 if full else 300,
        check=False,
    )
    assert done.stdout.strip(), done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["database"] == ("postgres" if PG_URL else "sqlite")
    assert report["kills"] == kills
    assert report["acknowledged"] > 0
    assert report["lost"] == 0
    assert report["duplicates"] == 0
    assert report["kills_without_write_after"] == 0  # writes were acknowledged after each kill
    assert report["writer_errors"] == []
    assert report["ok"] is True
    assert done.returncode == 0, done.stderr[-4000:]
    if PG_URL:  # its scratch database is gone
        from sqlalchemy import create_engine, text

        engine = create_engine(PG_URL)
        try:
            with engine.connect() as conn:
                left = conn.execute(
                    text("SELECT datname FROM pg_database WHERE datname LIKE 'tandem_chaos_%'")
                ).scalars()
                assert report["database_name"].startswith("tandem_chaos_")
                assert report["database_name"] not in set(left)
        finally:
            engine.dispose()


@pytest.fixture
def chaos(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import chaos as module

    yield module


def test_the_check_counts_lost_and_duplicated_points(
    chaos: ModuleType, live_url: str, settings: Settings
) -> None:
    """The read-back that decides the verdict sees a point acknowledged but missing, and a
    point stored twice (as a batch applied twice, without its id, would leave it)."""
    with Client(live_url, settings=settings) as client:
        run_id = client.runs.create("chaos").id
        writer = chaos.Writer(
            0, live_url, run_id, 10, threading.Event(), chaos.Acks(), threading.Event(), 0.0
        )
        steps = list(range(10))
        columns = {
            "key": [writer.key] * 10,
            "value": [chaos.value_of(0, step) for step in steps],
            "step": steps,
        }
        client.runs.log_batch(run_id, metrics=columns)
        again = {name: column[:3] for name, column in columns.items()}
        client.runs.log_batch(run_id, metrics=again)  # steps 0..2 a second time
        writer.acked_steps = 20  # it saw steps 10..19 acknowledged: none of them is there
        verdict = chaos.verify(client, [writer])
    assert verdict == {
        "acknowledged": 20,
        "lost": 10,
        "duplicates": 3,
        "stored_unacknowledged": 0,
    }
