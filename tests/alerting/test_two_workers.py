"""Two workers (two sets of services over one database, as two processes have) ticking and
delivering at the same moment: each result is read once, each alert raised once, each message
posted once (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from alert_world import T0, World

from tandem.alerting.models import AlertSettingsUpdate
from tandem.core.config import Settings
from tandem.governance.notifications.models import WebhookSet
from tandem.server.container import Services


@pytest.fixture
def second(world: World, settings: Settings) -> Iterator[Services]:
    other = Services.build(settings)
    other.alerts.use_feed(world.feed)
    yield other
    other.close()


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released at once; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_two_workers_raise_and_send_each_alert_once(
    world: World, second: Services, receiver
) -> None:
    owner = world.services.owner
    world.services.notifier.set_webhook(owner, "churn", WebhookSet(url=receiver.url))
    world.alerts.set_settings(owner, "churn", AlertSettingsUpdate(group_wait="0s"))
    for monitor in ("drift", "contract", "latency"):
        world.feed.add(monitor, at=T0)
    first = world.alerts
    ticks = together(
        lambda: first.tick(world.worker, now=T0), lambda: second.alerts.tick(world.worker, now=T0)
    )
    assert sorted(t.results for t in ticks) == [0, 3]
    assert sum(t.new_firing for t in ticks) == 3
    assert len(world.alerts.list_alerts(owner, "churn")) == 3
    assert len(world.inbox("alice")) == 3

    sent = together(
        lambda: first.deliver_due(world.worker, now=T0),
        lambda: second.alerts.deliver_due(world.worker, now=T0),
    )
    assert sum(s.sent for s in sent) == 3
    assert len(receiver.received) == 3
    assert world.alerts.list_deliveries(owner, "churn", state="pending") == []
