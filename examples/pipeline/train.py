"""Stage `train`: logistic regression by gradient descent (plain Python, seeded by TANDEM_SEED)."""

import csv
import json
import math
import os
import pathlib
import random

import yaml

params = yaml.safe_load(pathlib.Path("params.yaml").read_text())["train"]
random.seed(int(os.environ.get("TANDEM_SEED", "0")))
with open("data/features.csv") as handle:
    rows = list(csv.reader(handle))[1:]
random.shuffle(rows)
x = [[float(v) for v in r[:-1]] for r in rows]
y = [int(r[-1]) for r in rows]
split = int(len(rows) * 0.8)
w, b = [0.0] * len(x[0]), 0.0
for _ in range(params["epochs"]):
    grad_w, grad_b = [0.0] * len(w), 0.0
    for xi, yi in zip(x[:split], y[:split], strict=True):
        p = 1 / (1 + math.exp(-(sum(wj * xj for wj, xj in zip(w, xi, strict=True)) + b)))
        grad_w = [g + (p - yi) * xj for g, xj in zip(grad_w, xi, strict=True)]
        grad_b += p - yi
    w = [wj - params["learning_rate"] * g / split for wj, g in zip(w, grad_w, strict=True)]
    b -= params["learning_rate"] * grad_b / split
hits = sum(
    (1 / (1 + math.exp(-(sum(wj * xj for wj, xj in zip(w, xi, strict=True)) + b))) >= 0.5) == yi
    for xi, yi in zip(x[split:], y[split:], strict=True)
)
pathlib.Path("model").mkdir(exist_ok=True)
accuracy = hits / (len(rows) - split)
pathlib.Path("model/coefficients.json").write_text(json.dumps({"weights": w, "bias": b}, indent=2))
pathlib.Path("metrics.json").write_text(json.dumps({"holdout_accuracy": accuracy}))
print(f"holdout accuracy {accuracy:.4f}")
