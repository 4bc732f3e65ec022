"""The floor for bulk metric inserts: the same 1,000,000 points as tandem's "A2 log_batch 1M"
bench, inserted with a bare DB-API call into a fresh database holding only tandem's `metrics`
table (created from tandem's own SQLAlchemy metadata: same columns, same index).

--db sqlite   : sqlite3 `executemany` on a file opened by tandem's `Database` (so the same
                PRAGMAs: WAL, synchronous=NORMAL, 64 MiB cache), all rows in one transaction;
                also 100 x 10,000 rows, one transaction each (how tandem's batches commit)
--db postgres : psycopg `executemany` and `COPY` into a fresh database `bench_baseline`

Rows are built before the timer; the row count is checked after.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import postgres_database
from emit import emit

BENCH = "A2 log_batch 1M points x10000"
INSERT = "INSERT INTO metrics (run_pk, key_id, step, timestamp, value) VALUES "
Row = tuple[int, int, int, int, float]


def make_rows(n: int, keys: int = 10) -> list[Row]:
    """The points of tandem's bench, key ids 1..keys, in the order the batches send them."""
    ts = int(time.time() * 1000)
    return [
        (1, k + 1, s, ts, (s * 7 + k) % 1000 / 1000.0)
        for s in range(n // keys)
        for k in range(keys)
    ]


def fresh_table(url: str) -> Any:
    from tandem.store.db import Database
    from tandem.tracking.tables import metrics

    db = Database(url)
    metrics.create(db.engine)
    return db


def count(db: Any) -> int:
    with db.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM metrics").scalar_one())


def timed_sqlite(workdir: Path, name: str, rows: list[Row], chunk: int) -> tuple[float, bool]:
    db = fresh_table(f"sqlite:///{workdir / name}")
    raw = db.engine.raw_connection()  # the engine's connect hook set the PRAGMAs
    cursor = raw.driver_connection.cursor()
    sql = INSERT + "(?, ?, ?, ?, ?)"
    t0 = time.perf_counter()
    for start in range(0, len(rows), chunk):
        cursor.execute("BEGIN")
        cursor.executemany(sql, rows[start : start + chunk])
        cursor.execute("COMMIT")
    dt = time.perf_counter() - t0
    raw.close()
    ok = count(db) == len(rows)
    db.dispose()
    return dt, ok


def timed_postgres(rows: list[Row], use_copy: bool) -> tuple[float, bool]:
    with postgres_database("bench_baseline") as url:
        db = fresh_table(url)
        raw = db.engine.raw_connection()
        conn = raw.driver_connection
        t0 = time.perf_counter()
        with conn.cursor() as cursor:
            if use_copy:
                columns = "run_pk, key_id, step, timestamp, value"
                with cursor.copy(f"COPY metrics ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(INSERT + "(%s, %s, %s, %s, %s)", rows)
        conn.commit()
        dt = time.perf_counter() - t0
        raw.close()
        ok = count(db) == len(rows)
        db.dispose()
    return dt, ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgres"], required=True)
    ap.add_argument("--points", type=int, default=1_000_000)
    a = ap.parse_args()
    rows = make_rows(a.points)

    def out(tool: str, version: str, variant: str, run: Callable[[], tuple[float, bool]]) -> None:
        dt, ok = run()
        emit(
            "A",
            BENCH,
            tool,
            version,
            a.points / dt,
            "points/s",
            variant=variant,
            seconds=dt,
            n=a.points,
            verified=ok,
            notes="bare DB-API insert into tandem's metrics table (floor)",
        )

    if a.db == "sqlite":
        workdir = Path(tempfile.mkdtemp(prefix="bench-a-executemany-", dir="/tmp"))
        try:
            version = f"sqlite {sqlite3.sqlite_version}"
            out(
                "sqlite3 executemany",
                version,
                "sqlite, 1 tx",
                lambda: timed_sqlite(workdir, "one.db", rows, len(rows)),
            )
            out(
                "sqlite3 executemany",
                version,
                "sqlite, 100 tx x 10k",
                lambda: timed_sqlite(workdir, "chunked.db", rows, 10_000),
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    else:
        import psycopg

        version = f"psycopg {psycopg.__version__}"
        out("psycopg executemany", version, "postgres", lambda: timed_postgres(rows, False))
        out("psycopg COPY", version, "postgres", lambda: timed_postgres(rows, True))


if __name__ == "__main__":
    main()
