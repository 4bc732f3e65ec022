"""Stage `features`: the numeric columns of the telco dataset version, scaled to [0, 1]."""

import csv
import os
import pathlib

import yaml

columns = yaml.safe_load(pathlib.Path("params.yaml").read_text())["features"]["columns"]
source = pathlib.Path(os.environ["TANDEM_DATASET_TELCO"]) / "telco-churn.csv"
with source.open() as handle:
    rows = list(csv.DictReader(handle))
values = {c: [float(r[c] or 0) for r in rows] for c in columns}
scaled = {}
for column, vs in values.items():
    low, span = min(vs), (max(vs) - min(vs)) or 1.0
    scaled[column] = [(v - low) / span for v in vs]
out = pathlib.Path("data/features.csv")
with out.open("w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow([*columns, "churn"])
    for i, row in enumerate(rows):
        writer.writerow([f"{scaled[c][i]:.6f}" for c in columns] + [int(row["Churn"] == "Yes")])
print(f"{len(rows)} rows, columns {columns}")
