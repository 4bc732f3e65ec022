"""Web UI page times, server side, over a big workspace.

  W1  GET /projects/{p}: the runs table's first page, over 100,000 runs       -> median ms
  W1f the same with a filter and an order by a metric                          -> median ms
  W2  GET /projects/{p}/compare of 20 runs with 10 metrics x 1,000 steps each   -> median ms
  W2a that page plus the 200 metric-history fetches its charts make, one by one -> median ms
      (a browser makes them a few at a time, and only for the charts in view)

The 100,000 runs are written straight into tandem's tables, untimed (`tracking_tandem.populate`,
the A5 dataset); the compare runs are logged through the service. Requests go through the whole
ASGI app in process (TestClient), so the figures are the server's time without the network.

  python benchmarks/web_pages.py                 # SQLite in a temporary folder
  python benchmarks/web_pages.py --db postgres   # a fresh PostgreSQL database bench_web
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from common import FILTER, ORDER, make_search_dataset, postgres_database
from emit import emit
from tracking_tandem import populate

import tandem

PROJECT = "bench"
COMPARE_PROJECT = "compare"


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "postgres":
        with postgres_database("bench_web") as url:
            yield url
    else:
        yield f"sqlite:///{workdir / 'tandem.db'}"


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm: compiled searches, templates, connections
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    warnings.simplefilter("ignore")  # TestClient's httpx deprecation notice

    from starlette.testclient import TestClient

    from tandem.core.config import Settings
    from tandem.projects.models import ProjectCreate
    from tandem.server.app import create_app
    from tandem.server.container import Services
    from tandem.tracking.models import MetricColumns, RunBatch, RunCreate

    with tempfile.TemporaryDirectory() as tmp, database(a.db, Path(tmp)) as url:
        settings = Settings(home=Path(tmp), database_url=url, artifacts=str(Path(tmp) / "blobs"))
        services = Services.build(settings)
        owner = services.owner
        services.projects.create(owner, ProjectCreate(name=PROJECT))
        services.projects.create(owner, ProjectCreate(name=COMPARE_PROJECT))
        t0 = time.perf_counter()
        populate(url, PROJECT, make_search_dataset(n_runs=a.runs))
        steps = list(range(1000))
        keys = [f"m{k}" for k in range(10)]
        compare_ids = []
        for r in range(20):
            run = services.tracking.create_run(
                owner, COMPARE_PROJECT, RunCreate(name=f"c{r}", params={"lr": r, "model": "x"})
            )
            columns = MetricColumns(
                key=[k for k in keys for _ in steps],
                value=[(r + 1) / (s + 1) + i for i in range(10) for s in steps],
                step=steps * 10,
            )
            services.tracking.log_batch(owner, run.id, RunBatch(metrics=columns))
            compare_ids.append(run.id)
        print(f"seeded in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

        with TestClient(create_app(services=services)) as web:

            def get(path: str, **params: str) -> None:
                response = web.get(path, params=params or None)
                assert response.status_code == 200, (path, response.status_code)

            compare_url = f"/projects/{COMPARE_PROJECT}/compare?runs={','.join(compare_ids)}"

            def compare_with_charts() -> None:
                get(compare_url)
                for key in keys:
                    for run_id in compare_ids:
                        get(f"/api/v1/runs/{run_id}/metrics/{key}?project={COMPARE_PROJECT}")

            figures = {
                "W1 runs table first page 100k": median_ms(
                    lambda: get(f"/projects/{PROJECT}"), a.repeat
                ),
                "W1f runs table filtered+ordered 100k": median_ms(
                    lambda: get(f"/projects/{PROJECT}", filter=FILTER, order=ORDER), a.repeat
                ),
                "W2 compare page 20 runs x 10 metrics": median_ms(
                    lambda: get(compare_url), a.repeat
                ),
                "W2a compare page + 200 metric fetches": median_ms(
                    compare_with_charts, max(3, a.repeat // 4)
                ),
            }
        services.close()
    for bench, value in figures.items():
        emit("W", bench, "tandem", tandem.__version__, round(value, 2), "ms", better="lower",
             variant=f"web-{a.db}", runs=a.runs)  # fmt: skip
        print(f"{bench:45s} {value:8.1f} ms", file=sys.stderr)


if __name__ == "__main__":
    main()
