"""Register, evaluate and document churn models with tandem (needs the `models` extra,
`pip install -e '.[models]'` in the clone, which brings scikit-learn and skops).

    python examples/models.py        # after examples/quickstart.py, on the same workspace

Two scikit-learn models of the telco churn sample: version 1 uses tenure alone, version 2 a
pipeline over seven columns. Both are logged in a safe format (skops), version 2 is evaluated on
the held-out rows against version 1 (per slice, fairness across gender and SeniorCitizen,
bootstrap intervals, latency), aliased `champion` and moved to review through its gate (its
checklist holds on the evidence logged here); the start of its model card is printed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import tandem

DATA = Path(__file__).parent / "data" / "telco-churn.csv"
CONTRACT = Path(__file__).parent / "contracts" / "telco-churn.yaml"
NUMERIC = ["tenure", "MonthlyCharges"]
CATEGORICAL = ["Contract", "InternetService", "PaymentMethod", "gender", "SeniorCitizen"]


def main() -> None:
    client = tandem.get_client()
    if not any(p.name == "churn" for p in client.projects.list().items):
        client.projects.create("churn", "customer churn")
    frame = pd.read_csv(DATA)
    holdout = frame.sample(frac=0.25, random_state=7)  # the rest is a full extract: 5,000+ rows
    train = frame.drop(holdout.index)
    test = client.data.add("telco-holdout", holdout, project="churn")  # versioned as Parquet

    features = NUMERIC + CATEGORICAL
    encode = make_column_transformer(
        (StandardScaler(), NUMERIC), (OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)
    )
    with tandem.start_run(project="churn", name="sklearn-models", seed=7) as run:
        run.log_dataset(train, "telco-train", role="train", contract=CONTRACT)  # checked on add
        run.log_params({"features": ",".join(NUMERIC + CATEGORICAL), "max_iter": 500})
        run.use_dataset(test.ref, role="test")
        baseline = make_pipeline(StandardScaler(), LogisticRegression())
        baseline.fit(train[["tenure"]], train["Churn"])
        first = run.log_model(baseline, "churn-lr", example=train[["tenure"]].head(5))
        model = make_pipeline(encode, LogisticRegression(max_iter=500))
        model.fit(train[features], train["Churn"])
        second = run.log_model(model, "churn-lr", example=train[features].head(5))
    print(f"registered churn-lr@{first.version} and @{second.version} ({second.format})")

    evaluation = client.evaluations.evaluate(
        f"churn-lr@{second.version}", test.ref, "Churn", project="churn", positive="Yes",
        slices=["gender", "SeniorCitizen", "Contract"], protected=["gender", "SeniorCitizen"],
        baseline=f"churn-lr@{first.version}",
    )  # fmt: skip
    auc = evaluation.overall["roc_auc"] or 0.0
    print(f"evaluation {evaluation.id[:12]}: roc_auc {auc:.3f} on {test.ref}")

    client.models.set_alias("churn/churn-lr", "champion", second.version)
    # moving it forward goes through a gate: its checklist says what evidence is still missing
    gate = client.governance.gates.open(
        f"churn-lr@{second.version}", "ready-for-review", project="churn"
    )
    missing = [f"{item.key} ({item.detail})" for item in gate.checklist if not item.holds]
    if gate.passes:  # the evidence holds and the RACI asks no sign-off for review: move it
        client.models.set_stage(f"churn/churn-lr@{second.version}", "ready-for-review")
        print(f"gate {gate.id} passed: churn-lr@{second.version} is ready for review")
    else:
        print(f"gate {gate.id} to ready-for-review waits for " + "; ".join(missing))
    client.models.set_card_texts(
        "churn/churn-lr",
        intended_use="Rank current customers by churn risk for the retention team's outreach.",
        caveats_and_recommendations="Not for pricing or credit decisions.",
    )
    champion = tandem.load_model("churn/churn-lr@champion")
    print(f"champion loads back as a {type(champion).__name__}")
    card = client.models.card("churn/churn-lr@champion", format="markdown")
    print("\n".join(card.splitlines()[:12]))
    print("... the whole card: tandem models card churn-lr@champion -p churn [--html card.html]")

    # release the champion to a staging endpoint (a production one takes only versions that
    # passed their gate); `tandem serve staging -p churn --port 8080` serves it
    if "staging" not in {e.name for e in client.deployments.list("churn")}:
        client.deployments.create("staging", "churn", description="the team's test traffic")
    endpoint = client.deployments.get("staging", "churn")
    champion_version = client.models.version("churn/churn-lr@champion").version
    if not any(d.version == champion_version for d in endpoint.deployments):  # run again: kept
        endpoint = client.deployments.deploy(
            "staging", "churn-lr@champion", "churn", message="the demo's champion"
        )
    serving = ", ".join(f"{d.model}@{d.version} {d.weight:g}%" for d in endpoint.deployments)
    print(f"endpoint churn/endpoints/staging (policy v{endpoint.policy_version}): {serving}")


if __name__ == "__main__":
    main()
