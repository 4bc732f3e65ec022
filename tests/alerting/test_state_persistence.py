"""The alerting service persists the engine's state per project between ticks (SQLite and
PostgreSQL): a restarted worker carries on where the last one stopped, a tick that fails leaves
nothing behind, projects never share state, and the state empties once alerts are done with."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from alert_world import Receiver
from sqlalchemy import Connection, delete, insert, select

from tandem.alerting.engine import AlertState, EngineState, fingerprint
from tandem.alerting.models import AlertSettingsUpdate, AlertSeverity, ResultInput
from tandem.alerting.tables import alert_engine_state, alerts
from tandem.core.auth import Principal, Role
from tandem.core.config import Settings
from tandem.governance.notifications.models import WebhookSet
from tandem.governance.plan.models import RaciLetter, RaciSet
from tandem.identity.models import MemberSet, UserCreate
from tandem.projects.models import ProjectCreate
from tandem.server.container import Services

T0 = 1_796_112_000_000  # 2026-12-01T10:00Z
S = 1000
M = 60 * S
WORKER = Principal.system("worker")


class Killed(BaseException):
    """The worker process going away (as SystemExit or KeyboardInterrupt do)."""


class ListFeed:
    """Monitor results in order after a cursor (the position in the list)."""

    def __init__(self) -> None:
        self.results: list[ResultInput] = []

    def add(
        self,
        project: str,
        at: int,
        breached: bool,
        severity: str = "ticket",
        monitor: str = "drift",
    ) -> None:
        self.results.append(
            ResultInput(
                project=project,
                monitor=monitor,
                endpoint="prod",
                severity=AlertSeverity(severity),
                breached=breached,
                value=0.4 if breached else 0.1,
                window_end=at,
            )
        )

    def __call__(self, conn: Connection, cursor: str | None) -> tuple[list[ResultInput], str]:
        start = int(cursor or 0)
        return self.results[start:], str(len(self.results))


def make_project(services: Services, name: str) -> None:
    owner = services.owner
    services.projects.create(owner, ProjectCreate(name=name))
    services.identity.set_member(owner, name, MemberSet(user="alice", role=Role.ML_ENGINEER))
    services.identity.set_member(owner, name, MemberSet(user="carol", role=Role.PRODUCT_MANAGER))
    services.plan.set_raci(
        owner,
        name,
        RaciSet(
            activities={
                "monitoring": {"alice": RaciLetter.RESPONSIBLE, "carol": RaciLetter.ACCOUNTABLE},
                "incident-response": {
                    "alice": RaciLetter.RESPONSIBLE,
                    "carol": RaciLetter.ACCOUNTABLE,
                },
            }
        ),
    )
    services.alerts.set_settings(
        owner, name, AlertSettingsUpdate(group_wait="30s", group_interval="5m")
    )


@pytest.fixture
def feed() -> ListFeed:
    return ListFeed()


@pytest.fixture
def built(services: Services, feed: ListFeed) -> Services:
    for name in ("alice", "carol"):
        services.identity.create_user(services.owner, UserCreate(name=name, role=Role.VIEWER))
    make_project(services, "churn")
    make_project(services, "fraud")
    services.alerts.use_feed(feed)
    return services


@pytest.fixture
def restart(settings: Settings, feed: ListFeed) -> Iterator[Callable[[], Services]]:
    """Build another set of services over the same database: a new worker process."""
    opened: list[Services] = []

    def build() -> Services:
        fresh = Services.build(settings)
        fresh.alerts.use_feed(feed)
        opened.append(fresh)
        return fresh

    yield build
    for s in opened:
        s.close()


def stored(services: Services, project: str) -> EngineState | None:
    with services.db.read() as conn:
        pk = services.projects.find_pk_in(conn, project)
        raw = conn.execute(
            select(alert_engine_state.c.state).where(alert_engine_state.c.project_pk == pk)
        ).scalar()
    return None if raw is None else EngineState.from_json(json.loads(raw))


def triggers(services: Services, project: str) -> list[tuple[str, str]]:
    return [
        (d.kind.value, d.target)
        for d in services.alerts.list_deliveries(services.owner, project)
        if d.channel.value == "app"
    ]


def test_a_restarted_worker_carries_on_from_the_stored_state(
    built: Services, feed: ListFeed, restart: Callable[[], Services]
) -> None:
    feed.add("churn", T0, True)
    built.alerts.tick(WORKER, now=T0)
    assert triggers(built, "churn") == []  # group_wait: nothing yet
    state = stored(built, "churn")
    assert state is not None
    (alert,) = state.alerts.values()
    assert alert.state is AlertState.FIRING
    (group,) = state.groups.values()
    assert (group.next_flush_at, group.notified_at) == (T0 + 30 * S, None)

    again = restart()
    again.alerts.tick(WORKER, now=T0 + 30 * S)
    assert triggers(again, "churn") == [("trigger", "alice")]
    again.alerts.tick(WORKER, now=T0 + M)
    third = restart()
    third.alerts.tick(WORKER, now=T0 + 2 * M)
    assert triggers(third, "churn") == [("trigger", "alice")]  # sent once, across three workers
    after = stored(third, "churn")
    assert after is not None
    (group,) = after.groups.values()
    assert group.notified_at == T0 + 30 * S
    assert group.notified_firing == [alert.fingerprint]


def test_a_failed_tick_leaves_state_and_cursor_as_they_were(
    built: Services, feed: ListFeed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker dying at the last moment of a tick (after the engine stepped and deliveries were
    queued, while saving the state) rolls it all back: the next tick sends exactly once. (Dying
    is not a project's failure: the per-project savepoint lets it through.)"""
    built.alerts.set_settings(built.owner, "churn", AlertSettingsUpdate(group_wait="0s"))
    feed.add("churn", T0, True)
    before = stored(built, "churn")

    def crash(*args: object, **kwargs: object) -> None:
        raise Killed("killed while saving the engine state")

    with monkeypatch.context() as patch:
        patch.setattr(built.alerts.store, "set_engine_state", crash)
        with pytest.raises(Killed, match="killed"):
            built.alerts.tick(WORKER, now=T0)
    assert stored(built, "churn") == before
    assert triggers(built, "churn") == []
    assert built.alerts.list_alerts(built.owner, "churn") == []
    summary = built.alerts.tick(WORKER, now=T0 + S)
    assert summary.results == 1  # the cursor did not move: the result is read again
    assert triggers(built, "churn") == [("trigger", "alice")]
    built.alerts.tick(WORKER, now=T0 + 2 * S)
    assert triggers(built, "churn") == [("trigger", "alice")]


def test_projects_keep_states_of_their_own(built: Services, feed: ListFeed) -> None:
    feed.add("churn", T0, True)
    built.alerts.tick(WORKER, now=T0)
    feed.add("fraud", T0 + M, True)
    built.alerts.tick(WORKER, now=T0 + M)
    churn, fraud = stored(built, "churn"), stored(built, "fraud")
    assert churn is not None
    assert fraud is not None
    (c,) = churn.alerts.values()
    (f,) = fraud.alerts.values()
    assert c.fingerprint == f.fingerprint  # the same labels in two projects ...
    assert (c.active_at, f.active_at) == (T0, T0 + M)  # ... are two alerts
    (cg,) = churn.groups.values()
    (fg,) = fraud.groups.values()
    assert (cg.notified_at, fg.notified_at) == (T0 + M, None)  # churn's group_wait passed


def test_the_state_empties_once_the_recovery_is_sent(built: Services, feed: ListFeed) -> None:
    built.alerts.set_settings(built.owner, "churn", AlertSettingsUpdate(group_wait="0s"))
    feed.add("churn", T0, True)
    built.alerts.tick(WORKER, now=T0)
    feed.add("churn", T0 + 5 * M, False)
    built.alerts.tick(WORKER, now=T0 + 5 * M)  # resolved at a flush: sent at once
    assert triggers(built, "churn") == [("resolve", "alice"), ("trigger", "alice")]
    assert stored(built, "churn") == EngineState()


def test_a_recovery_notified_at_the_next_group_interval_is_sent(
    built: Services, feed: ListFeed
) -> None:
    built.alerts.set_settings(built.owner, "churn", AlertSettingsUpdate(group_wait="0s"))
    feed.add("churn", T0, True)
    built.alerts.tick(WORKER, now=T0)
    feed.add("churn", T0 + M, False)
    built.alerts.tick(WORKER, now=T0 + M)  # resolved between two flushes
    assert triggers(built, "churn") == [("trigger", "alice")]
    built.alerts.tick(WORKER, now=T0 + 5 * M)  # the group's next flush
    assert triggers(built, "churn") == [("resolve", "alice"), ("trigger", "alice")]


def test_one_projects_failing_step_rolls_back_alone_and_its_results_wait_for_it(
    built: Services, feed: ListFeed, receiver: Receiver
) -> None:
    """fraud's step fails for real: the database refuses one of its alert rows (a row of an
    earlier firing with the same fingerprint and start, as a hand-restored backup could leave).
    Its savepoint rolls back its own writes only; churn's alert is raised and delivered in the
    same tick; fraud's results are read again until its step succeeds, and nothing is sent
    twice."""
    owner = built.owner
    for name in ("churn", "fraud"):
        built.alerts.set_settings(owner, name, AlertSettingsUpdate(group_wait="0s"))
    built.notifier.set_webhook(owner, "churn", WebhookSet(url=receiver.url))
    labels = {"alertname": "errors", "endpoint": "prod", "severity": "ticket"}
    with built.db.write() as conn:
        fraud_pk = built.projects.find_pk_in(conn, "fraud")
        conn.execute(
            insert(alerts).values(
                id="al_restored", project_pk=fraud_pk, fingerprint=fingerprint(labels),
                name="errors", endpoint="prod", severity="ticket", state="resolved",
                labels=json.dumps(labels), annotations="{}", starts_at=T0, fired_at=T0,
                ends_at=T0 + S, updated_at=T0 + S, recipients="[]",
            )
        )  # fmt: skip
    feed.add("fraud", T0, True)  # drift: its row is written before the one refused
    feed.add("fraud", T0, True, monitor="errors")
    feed.add("churn", T0, True)
    summary = built.alerts.tick(WORKER, now=T0)

    assert summary.failed == ["fraud"]
    assert (summary.results, summary.new_firing, summary.queued) == (3, 1, 1)
    assert [(a.name, a.state.value) for a in built.alerts.list_alerts(owner, "churn")] == [
        ("drift", "firing")
    ]
    assert triggers(built, "churn") == [("trigger", "alice")]
    assert built.alerts.deliver_due(WORKER, now=T0).sent == 1
    [post] = receiver.bodies()
    assert post["text"].startswith("[FIRING:1] churn: alertname=drift")
    # nothing of fraud's step stayed: no drift row, no state, no delivery
    assert [a.id for a in built.alerts.list_alerts(owner, "fraud")] == ["al_restored"]
    assert stored(built, "fraud") is None
    assert triggers(built, "fraud") == []

    # still failing at the next tick: churn goes on as usual
    assert built.alerts.tick(WORKER, now=T0 + M).failed == ["fraud"]
    # the conflicting row is removed: fraud's results of T0 are read again, and its alerts fire
    with built.db.write() as conn:
        conn.execute(delete(alerts).where(alerts.c.id == "al_restored"))
    summary = built.alerts.tick(WORKER, now=T0 + 2 * M)
    assert (summary.failed, summary.results, summary.new_firing) == ([], 0, 2)
    fired = sorted((a.name, a.starts_at) for a in built.alerts.list_alerts(owner, "fraud"))
    assert fired == [("drift", T0), ("errors", T0)]
    assert triggers(built, "fraud") == [("trigger", "alice")] * 2  # a group per alertname
    built.alerts.tick(WORKER, now=T0 + 3 * M)  # the hold is released: nothing read twice
    assert triggers(built, "fraud") == [("trigger", "alice")] * 2
    assert triggers(built, "churn") == [("trigger", "alice")]
