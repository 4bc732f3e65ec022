"""Train a small churn model three ways and track every run with tandem.

    python examples/quickstart.py            # logs to the embedded workspace (.tandem/)
    TANDEM_URL=http://127.0.0.1:8765 python examples/quickstart.py   # or to a server

Plain-Python logistic regression on the IBM telco churn sample, so the example needs nothing
but tandem. The data is versioned first, checked against its ODCS contract
(contracts/telco-churn.yaml); each run is linked to that version and logs its params, loss and
AUC per epoch, a tag, and a small report.
"""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

import tandem

DATA = Path(__file__).parent / "data" / "telco-churn.csv"
CONTRACT = Path(__file__).parent / "contracts" / "telco-churn.yaml"


def load() -> tuple[list[list[float]], list[int]]:
    rows, labels = [], []
    with DATA.open(newline="") as handle:
        for row in csv.DictReader(handle):
            total = float(row["TotalCharges"]) if row["TotalCharges"].strip() else 0.0
            rows.append(
                [
                    float(row["tenure"]) / 72,
                    float(row["MonthlyCharges"]) / 120,
                    total / 9000,
                    1.0 if row["Contract"] == "Month-to-month" else 0.0,
                    1.0 if row["InternetService"] == "Fiber optic" else 0.0,
                    1.0 if row["PaymentMethod"] == "Electronic check" else 0.0,
                    1.0 if row["SeniorCitizen"] == "1" else 0.0,
                ]
            )
            labels.append(1 if row["Churn"] == "Yes" else 0)
    return rows, labels


def auc(scores: list[float], labels: list[int]) -> float:
    """Area under the ROC curve by the rank-sum formula."""
    order = sorted(range(len(scores)), key=scores.__getitem__)
    rank_sum = sum(rank for rank, i in enumerate(order, start=1) if labels[i])
    positives = sum(labels)
    negatives = len(labels) - positives
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def train(lr: float, l2: float, epochs: int, seed: int, data: str) -> None:
    rows, labels = load()
    with tandem.start_run(project="churn", name=f"logreg-lr{lr}-l2{l2}", seed=seed) as run:
        run.use_dataset(data, role="train")
        run.log_params({"model": "logreg", "lr": lr, "l2": l2, "epochs": epochs})
        run.set_tags({"team": "retention", "dataset": "telco-churn"})
        index = list(range(len(rows)))
        random.shuffle(index)  # seeded by start_run(seed=...)
        cut = int(len(index) * 0.8)
        train_ix, test_ix = index[:cut], index[cut:]
        weights, bias = [0.0] * len(rows[0]), 0.0
        for epoch in range(epochs):
            grad, grad_b, loss = [0.0] * len(weights), 0.0, 0.0
            for i in train_ix:
                z = bias + sum(w * x for w, x in zip(weights, rows[i], strict=True))
                p = 1 / (1 + math.exp(-z))
                loss -= math.log(p if labels[i] else 1 - p)
                for j, x in enumerate(rows[i]):
                    grad[j] += (p - labels[i]) * x
                grad_b += p - labels[i]
            n = len(train_ix)
            weights = [w - lr * (g / n + l2 * w) for w, g in zip(weights, grad, strict=True)]
            bias -= lr * grad_b / n
            scores = [
                bias + sum(w * x for w, x in zip(weights, rows[i], strict=True)) for i in test_ix
            ]
            run.log_metrics(
                {"loss": loss / n, "auc": auc(scores, [labels[i] for i in test_ix])}, step=epoch
            )
        run.log_text(
            "\n".join(f"w{j} = {w:.4f}" for j, w in enumerate(weights)), "model/weights.txt"
        )
    print(f"run {run.ref}: auc {run.client.runs.get(run.id).metrics['auc']:.3f}")


if __name__ == "__main__":
    client = tandem.get_client()
    if not any(p.name == "churn" for p in client.projects.list().items):
        client.projects.create("churn", "customer churn")
    version = client.data.add("telco", DATA, project="churn", contract=CONTRACT)
    print(f"data {version.ref}: {version.rows} rows, contract passed: {version.validation_passed}")
    for lr, l2 in [(0.5, 0.0), (2.0, 0.0), (2.0, 0.01)]:
        train(lr, l2, epochs=30, seed=7, data=version.ref)
    best = tandem.search_runs("params.model = 'logreg'", project="churn", order_by="-metrics.auc")
    print(f"best of {len(best.items)} runs: {best.items[0].name}")
