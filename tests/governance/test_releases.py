"""The gates' side of deployments, through the real services: which versions a production
endpoint may take (`release_check`), the stage moves a completed release and a rollback record
(`record_release`, `record_rollback`: production, the replaced version back to
ready-for-production, the `rollback` alias, the audit), and notifying an activity's RACI
members (`Notifier.notify_activity`, to tandem and to a real webhook on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest
from governance_world import Hook, Team
from sklearn.linear_model import LogisticRegression

from tandem.core.auth import Principal
from tandem.core.config import Settings
from tandem.errors import Conflict, NotFound
from tandem.governance.gates.models import GateOpen
from tandem.governance.notifications.models import WebhookSet
from tandem.governance.notifications.service import Outbox
from tandem.governance.plan.models import DEFAULT_ACTIVITIES, DEPLOYMENT_ACTIVITY, RaciSet
from tandem.projects.models import ProjectCreate
from tandem.registry.models import Stage
from tandem.sdk.client import Client


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The webhook receiver runs on loopback, which the outbound policy allows only when told."""
    return replace(settings, outbound_allow_hosts=("127.0.0.1",))


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook()
    yield receiver
    receiver.close()


@dataclass
class Models:
    """Project churn with churn-lr@1..3 and churn-gbm@1 (all draft), and project other with
    other-lr@1."""

    team: Team

    @property
    def services(self) -> Any:
        return self.team.services

    @property
    def owner(self) -> Principal:
        return self.team.services.owner

    def stage(self, ref: str, project: str = "churn") -> Stage:
        name, version = ref.split("@")
        return self.services.registry.get_version(self.owner, project, name, version).stage

    def set_stage(self, ref: str, stage: Stage, project: str = "churn") -> None:
        name, version = ref.split("@")
        self.services.registry.set_stage(self.owner, project, name, version, stage)

    def pk(self, ref: str, project: str = "churn") -> int:
        name, version = ref.split("@")
        with self.services.db.read() as conn:
            project_pk = self.services.projects.pk_in(conn, project)
            return int(self.services.registry.version_pk(conn, project_pk, name, int(version)))

    def aliases(self, ref: str) -> list[str]:
        name, version = ref.split("@")
        return self.services.registry.get_version(self.owner, "churn", name, version).aliases

    def audit(self, action: str) -> list[Any]:
        return self.services.audit.list(self.owner, project="churn", action=action).items


@pytest.fixture
def models(team: Team, settings: Settings) -> Iterator[Models]:
    from tandem.server import embedded

    client = Client(settings=settings)
    rng = np.random.default_rng(3)
    features = rng.normal(size=(60, 2))
    labels = features[:, 0] > 0
    team.services.projects.create(team.services.owner, ProjectCreate(name="other"))
    for project, name, count in (("churn", "churn-lr", 3), ("churn", "churn-gbm", 1),
                                 ("other", "other-lr", 1)):  # fmt: skip
        for _ in range(count):
            with client.start_run(project=project) as run:
                run.log_model(LogisticRegression().fit(features, labels), name)
    yield Models(team)
    client.close()
    embedded.close_all()


# -- release_check ----------------------------------------------------------------------------


def test_a_version_that_passed_its_gate_to_ready_for_production_may_take_production_traffic(
    models: Models,
) -> None:
    gates, p = models.services.gates, models.team.principals
    models.set_stage("churn-lr@1", Stage.PRODUCTION)
    models.set_stage("churn-lr@2", Stage.READY_FOR_PRODUCTION)
    models.services.registry.set_alias(models.owner, "churn", "churn-lr", "champion", 2)
    assert gates.release_check(p["mle"], "churn", "churn-lr", "1").version == 1
    assert gates.release_check(p["mle"], "churn", "churn-lr", "champion").version == 2
    readable = gates.release_check(p["viewer"], "churn", "churn-lr", "2")
    assert readable.stage is Stage.READY_FOR_PRODUCTION


def test_a_draft_is_refused_with_the_command_that_opens_its_gate(models: Models) -> None:
    gates, p = models.services.gates, models.team.principals
    with pytest.raises(Conflict) as refused:
        gates.release_check(p["mle"], "churn", "churn-lr", "3")
    assert refused.value.status == 409 and refused.value.code == "conflict"
    assert str(refused.value) == (
        "churn-lr@3 is draft: a production endpoint takes only a version that passed its gate "
        "to ready-for-production; open its gate with "
        "`tandem gate open churn-lr@3 --to ready-for-review -p churn`"
    )
    assert refused.value.details == {
        "stage": "draft",
        "command": "tandem gate open churn-lr@3 --to ready-for-review -p churn",
    }
    models.set_stage("churn-lr@3", Stage.READY_FOR_REVIEW)
    with pytest.raises(Conflict, match=r"--to ready-for-production -p churn`$"):
        gates.release_check(p["mle"], "churn", "churn-lr", "3")


def test_an_open_gate_is_named_with_what_it_waits_for(models: Models) -> None:
    gates, p = models.services.gates, models.team.principals
    models.set_stage("churn-lr@2", Stage.READY_FOR_REVIEW)
    raci = {"release-approval": {"pm": "A"}, "monitoring": {"mle": "A"}}
    models.services.plan.set_raci(
        models.owner, "churn", RaciSet.model_validate({"activities": raci})
    )
    gate = gates.open(
        p["mle"], "churn", GateOpen(model="churn-lr@2", to=Stage.READY_FOR_PRODUCTION)
    )
    with pytest.raises(Conflict) as refused:
        gates.release_check(p["mle"], "churn", "churn-lr", "2")
    message = str(refused.value)
    assert message.startswith(
        "churn-lr@2 is ready-for-review: a production endpoint takes only a version that passed "
        f"its gate to ready-for-production; its gate {gate.id} to ready-for-production is open "
        "and waits for "
    )
    assert "sign-offs: waiting for pm" in message
    assert "monitoring-plan" not in message  # it holds: only what is missing is named
    assert refused.value.details == {"stage": "ready-for-review", "gate": gate.id}


def test_a_retired_version_is_refused(models: Models) -> None:
    models.set_stage("churn-lr@1", Stage.RETIRED)
    with pytest.raises(Conflict, match=r"is retired: .* a retired version stays retired"):
        models.services.gates.release_check(models.team.principals["mle"], "churn", "churn-lr", "1")


def test_release_check_reads_as_the_caller(models: Models) -> None:
    gates = models.services.gates
    with pytest.raises(NotFound) as hidden:
        gates.release_check(models.team.principals["mle"], "other", "other-lr", "1")
    assert hidden.value.status == 404
    with pytest.raises(NotFound, match="no version 9"):
        gates.release_check(models.team.principals["mle"], "churn", "churn-lr", "9")


# -- record_release and record_rollback --------------------------------------------------------


def release(models: Models, released: str, replaced: str | None, **evidence: Any) -> list[str]:
    with models.services.db.write() as conn:
        return models.services.gates.record_release(
            conn,
            models.team.principals["mle"],
            "churn",
            released_version_pk=models.pk(released),
            replaced_version_pk=None if replaced is None else models.pk(replaced),
            endpoint="prod",
            evidence=evidence,
        )


def rollback(models: Models, restored: str, withdrawn: str) -> list[str]:
    with models.services.db.write() as conn:
        return models.services.gates.record_rollback(
            conn,
            models.team.principals["mle"],
            "churn",
            restored_version_pk=models.pk(restored),
            withdrawn_version_pk=models.pk(withdrawn),
            endpoint="prod",
        )


def test_a_completed_release_moves_the_stages_and_keeps_the_rollback_target(
    models: Models,
) -> None:
    models.set_stage("churn-lr@1", Stage.PRODUCTION)
    models.set_stage("churn-lr@2", Stage.READY_FOR_PRODUCTION)
    changes = release(models, "churn-lr@2", "churn-lr@1", rollout="r-7", gate="g-1")
    assert changes == [
        "churn-lr@2: ready-for-production -> production",
        "churn-lr@1: production -> ready-for-production",
        "alias rollback -> churn-lr@1",
    ]
    assert models.stage("churn-lr@2") is Stage.PRODUCTION
    assert models.stage("churn-lr@1") is Stage.READY_FOR_PRODUCTION
    assert models.aliases("churn-lr@1") == ["rollback"]
    version = models.services.registry.get_version(models.owner, "churn", "churn-lr", "2")
    assert version.stage_changed_by == "release on endpoint prod"

    (event,) = models.audit("model.release")
    assert (event.actor, event.target) == ("mle", "churn/churn-lr@2")
    assert event.details == {
        "endpoint": "prod",
        "replaced": "churn-lr@1",
        "changes": changes,
        "evidence": {"rollout": "r-7", "gate": "g-1"},
    }
    moves = models.audit("model.version.stage")
    assert [(m.target, m.details["stage"], m.details["cause"]) for m in moves[:2]] == [
        ("churn/churn-lr@1", "ready-for-production", "release"),
        ("churn/churn-lr@2", "production", "release"),
    ]
    assert models.audit("model.alias.set")[0].target == "churn/churn-lr@rollback"


def test_a_first_release_and_a_redeploy_of_the_same_version(models: Models) -> None:
    models.set_stage("churn-lr@1", Stage.READY_FOR_PRODUCTION)
    assert release(models, "churn-lr@1", None) == ["churn-lr@1: ready-for-production -> production"]
    assert release(models, "churn-lr@1", "churn-lr@1") == []  # nothing to move
    assert models.stage("churn-lr@1") is Stage.PRODUCTION
    assert models.aliases("churn-lr@1") == []
    assert len(models.audit("model.release")) == 2


def test_a_release_replacing_another_model_sets_no_alias_across_models(models: Models) -> None:
    models.set_stage("churn-lr@1", Stage.PRODUCTION)
    models.set_stage("churn-gbm@1", Stage.READY_FOR_PRODUCTION)
    assert release(models, "churn-gbm@1", "churn-lr@1") == [
        "churn-gbm@1: ready-for-production -> production",
        "churn-lr@1: production -> ready-for-production",
    ]
    assert models.aliases("churn-lr@1") == []


@pytest.mark.parametrize("stage", [Stage.DRAFT, Stage.READY_FOR_REVIEW, Stage.RETIRED])
def test_releasing_a_version_that_did_not_pass_its_gate_changes_nothing(
    models: Models, stage: Stage
) -> None:
    models.set_stage("churn-lr@1", Stage.PRODUCTION)
    models.set_stage("churn-lr@2", stage)
    with pytest.raises(Conflict) as refused:
        release(models, "churn-lr@2", "churn-lr@1")
    assert refused.value.status == 409
    assert str(refused.value) == (
        f"churn-lr@2 is {stage.value}: only a version that passed its gate to "
        "ready-for-production may be released on production endpoint 'prod'"
    )
    assert models.stage("churn-lr@1") is Stage.PRODUCTION
    assert models.stage("churn-lr@2") is stage
    assert models.audit("model.release") == []


def test_a_version_of_another_project_is_not_found(models: Models) -> None:
    models.set_stage("other-lr@1", Stage.READY_FOR_PRODUCTION, project="other")
    with models.services.db.write() as conn, pytest.raises(NotFound) as missing:
        models.services.gates.record_release(
            conn,
            models.owner,
            "churn",
            released_version_pk=models.pk("other-lr@1", project="other"),
            replaced_version_pk=None,
            endpoint="prod",
            evidence={},
        )
    assert missing.value.status == 404
    assert models.stage("other-lr@1", project="other") is Stage.READY_FOR_PRODUCTION


def test_a_rollback_restores_the_replaced_version(models: Models) -> None:
    models.set_stage("churn-lr@1", Stage.PRODUCTION)
    models.set_stage("churn-lr@2", Stage.READY_FOR_PRODUCTION)
    release(models, "churn-lr@2", "churn-lr@1")
    changes = rollback(models, "churn-lr@1", "churn-lr@2")
    assert changes == [
        "churn-lr@1: ready-for-production -> production",
        "churn-lr@2: production -> ready-for-production",
        "alias rollback removed from churn-lr@1",
    ]
    assert models.stage("churn-lr@1") is Stage.PRODUCTION
    assert models.stage("churn-lr@2") is Stage.READY_FOR_PRODUCTION
    assert models.aliases("churn-lr@1") == []
    (event,) = models.audit("model.rollback")
    assert (event.target, event.details["restored"], event.details["endpoint"]) == (
        "churn/churn-lr@2",
        "churn-lr@1",
        "prod",
    )
    assert models.audit("model.alias.delete")[0].target == "churn/churn-lr@rollback"


def test_rolling_back_a_canary_that_never_completed_moves_nothing(models: Models) -> None:
    models.set_stage("churn-lr@1", Stage.PRODUCTION)
    models.set_stage("churn-lr@2", Stage.READY_FOR_PRODUCTION)  # at 5%, never released
    assert rollback(models, "churn-lr@1", "churn-lr@2") == []
    assert models.stage("churn-lr@1") is Stage.PRODUCTION
    assert models.stage("churn-lr@2") is Stage.READY_FOR_PRODUCTION
    assert len(models.audit("model.rollback")) == 1


def test_a_rollback_is_never_refused_and_says_what_it_could_not_restore(models: Models) -> None:
    models.set_stage("churn-lr@1", Stage.PRODUCTION)
    models.set_stage("churn-lr@2", Stage.READY_FOR_PRODUCTION)
    release(models, "churn-lr@2", "churn-lr@1")
    models.set_stage("churn-lr@1", Stage.DRAFT)  # someone took it back meanwhile
    assert rollback(models, "churn-lr@1", "churn-lr@2") == [
        "churn-lr@1 stays draft",
        "churn-lr@2: production -> ready-for-production",
        "alias rollback removed from churn-lr@1",
    ]
    assert models.stage("churn-lr@1") is Stage.DRAFT


# -- the deployment activity and its notifications ---------------------------------------------


def test_deployment_is_a_default_raci_activity() -> None:
    assert DEPLOYMENT_ACTIVITY == "deployment"
    assert DEPLOYMENT_ACTIVITY in DEFAULT_ACTIVITIES


def notify(team: Team, activity: str, *, skip: tuple[str, ...] = ()) -> tuple[list[str], Outbox]:
    services = team.services
    outbox = Outbox(team.principals["mle"])
    with services.db.write() as conn:
        project_pk = services.projects.pk_in(conn, "churn")
        notified = services.notifier.notify_activity(
            conn, outbox, "churn", project_pk, activity, "deployment",
            "churn-lr@2 is at 25% on prod", "/projects/churn/endpoints/prod", skip=skip,
        )  # fmt: skip
    services.notifier.deliver(outbox)
    return notified, outbox


def test_an_activitys_raci_members_are_notified_in_tandem_and_on_the_webhook(
    team: Team, hook: Hook
) -> None:
    services, p, owner = team.services, team.principals, team.services.owner
    services.notifier.set_webhook(p["padmin"], "churn", WebhookSet(url=hook.url))
    raci = {"deployment": {"mle": "A", "ds": "R", "pm": "I", "comp": "C"}}
    services.plan.set_raci(owner, "churn", RaciSet.model_validate({"activities": raci}))
    services.identity.remove_member(owner, "churn", "comp")  # left: told nothing

    notified, _ = notify(team, "deployment", skip=("mle",))  # not told of their own change
    assert notified == ["ds", "pm"]
    for who in ("ds", "pm"):
        (note,) = services.notifier.mine(p[who], unread=True)
        assert (note.project, note.kind, note.message, note.link) == (
            "churn",
            "deployment",
            "churn-lr@2 is at 25% on prod",
            "/projects/churn/endpoints/prod",
        )
    assert services.notifier.mine(p["mle"]) == []
    assert hook.received == [
        {"text": "@ds, @pm: churn-lr@2 is at 25% on prod (/projects/churn/endpoints/prod)"}
    ]


def test_an_activity_the_raci_does_not_have_notifies_nobody(team: Team, hook: Hook) -> None:
    team.services.notifier.set_webhook(team.principals["padmin"], "churn", WebhookSet(url=hook.url))
    notified, outbox = notify(team, "deployment")
    assert notified == [] and outbox.messages == []
    assert hook.received == []
    assert team.services.notifier.mine(team.principals["ds"]) == []
