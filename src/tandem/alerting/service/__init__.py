"""AlertService: monitors' results become alerts (the pure engine, `tandem.alerting.engine`,
decides their state, grouping, silences and inhibition), routed to the members the project's
RACI names and delivered in the app, to the project's webhook and to PagerDuty.

- `tick(principal, now)` reads the monitor results not read yet (a cursor, locked for the
  transaction, so two workers never read the same results), steps each project's engine,
  persists its state and the alerts, writes the in-app notifications, queues the webhook and
  PagerDuty messages, escalates, and hands new page alerts to the incidents domain
  (`PageHandler`) — all in one transaction: a tick that dies leaves nothing half-written.
- `deliver_due(principal, now)` sends what is due, outside any transaction of the tick, with a
  short timeout; a failure is retried with exponential backoff, and the state of each delivery
  is kept (`deliveries`). A slow or failing receiver delays only its own messages.

Routing: a `ticket` or `info` alert goes to the members Responsible for `monitoring`, a `page`
to those Responsible for `incident-response` (then `monitoring`); with no one Responsible, to
the Accountable. A firing alert nobody acknowledged within `escalate_after` goes to the
Accountable too (ADR 25).
"""

from tandem.alerting.service.base import (
    DELIVERY_TIMEOUT_S,
    FIRST_RETRY_MS,
    LEASE_MS,
    MAX_ATTEMPTS,
    MAX_RETRY_MS,
    PageHandler,
    RaciLetters,
    ResultFeed,
)
from tandem.alerting.service.deliveries import DeliveryOps
from tandem.alerting.service.people import ResponseOps
from tandem.alerting.service.ticks import TickOps, monitor_feed

__all__ = [
    "DELIVERY_TIMEOUT_S",
    "FIRST_RETRY_MS",
    "LEASE_MS",
    "MAX_ATTEMPTS",
    "MAX_RETRY_MS",
    "AlertService",
    "PageHandler",
    "RaciLetters",
    "ResultFeed",
    "monitor_feed",
]


class AlertService(TickOps, DeliveryOps, ResponseOps):
    """The alerting domain's one entry, for the worker, the faces and other domains. Its
    operations live in a module each, over the shared `AlertCore`:

        ticks.py       tick: results through the engine, alerts, notifications, escalation
        deliveries.py  deliver_due: the queue, retries and backoff; the deliveries' state
        people.py      list, ack, silences, settings; history for the incidents domain
        base.py        collaborators, settings, routing by the RACI, delivery rows
    """
