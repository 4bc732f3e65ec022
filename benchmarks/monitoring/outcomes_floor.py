"""(2) The floor for joining 1M labels to 1M logged predictions: a hand-written Polars pass over
the two Parquet files already in memory (no prediction log, no database, no blob store): join by
request id, then per version x hourly window ROC AUC (ranks), precision, recall, accuracy and ECE
(10 bins). What tandem's `labels add` does on top (reading the log's segments, storing the labels,
auditing, storing per-window results) is the price of a real log:

    .venv/bin/python benchmarks/monitoring/outcomes_floor.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, HOUR_MS, START_AT_MS, emit


def window_metrics(predictions: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    joined = predictions.join(labels.select("request_id", "label"), on="request_id", how="inner")
    keys = ["version", "window"]
    joined = joined.with_columns(
        ((pl.col("at") - START_AT_MS) // HOUR_MS).alias("window"),
        (pl.col("score") >= 0.5).alias("predicted"),
        pl.col("label").cast(pl.Boolean).alias("positive"),
    ).with_columns(
        pl.col("score").rank("average").over(keys).alias("rank"),
        (pl.col("score") * 10).floor().clip(0, 9).alias("bin"),
    )
    per_bin = (
        joined.group_by([*keys, "bin"])
        .agg(
            pl.len().alias("n"),
            pl.col("score").mean().alias("conf"),
            pl.col("positive").mean().alias("rate"),
        )
        .with_columns((pl.col("n") * (pl.col("conf") - pl.col("rate")).abs()).alias("gap"))
        .group_by(keys)
        .agg((pl.col("gap").sum() / pl.col("n").sum()).alias("ece"))
    )
    p, n = pl.col("positive").sum(), (~pl.col("positive")).sum()
    tp = (pl.col("predicted") & pl.col("positive")).sum()
    return (
        joined.group_by(keys)
        .agg(
            pl.len().alias("rows"),
            ((pl.col("rank").filter(pl.col("positive")).sum() - p * (p + 1) / 2) / (p * n)).alias(
                "roc_auc"
            ),
            (tp / pl.col("predicted").sum()).alias("precision"),
            (tp / p).alias("recall"),
            (pl.col("predicted") == pl.col("positive")).mean().alias("accuracy"),
        )
        .join(per_bin, on=keys)
        .sort(keys)
    )


def main() -> None:
    predictions = pl.read_parquet(DATA / "outcomes" / "predictions.parquet")
    labels = pl.read_parquet(DATA / "outcomes" / "labels.parquet")
    cpu_began = time.process_time()
    began = time.perf_counter()
    result = window_metrics(predictions, labels)
    seconds = time.perf_counter() - began
    cpu_s = round(time.process_time() - cpu_began, 3)
    print(result.head(3), file=sys.stderr)
    emit(
        "M2",
        "join 1M labels to 1M predictions + per-window metrics",
        "polars floor",
        pl.__version__,
        seconds,
        "s",
        variant="two frames in memory",
        seconds=seconds,
        cpu_s=cpu_s,
        windows=result.height,
        joined=int(result["rows"].sum()),
        notes="join by request id; per version x hour: ROC AUC, precision, recall, accuracy, "
        "ECE; no bootstrap",
    )


if __name__ == "__main__":
    main()
