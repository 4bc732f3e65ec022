"""MonitoringService: monitors over endpoints' live traffic, evaluated per window.

Rules, all checked here so every face enforces them:
- Reading takes `monitor:read`; creating, changing, deleting and evaluating take
  `monitor:write` (the worker acts as `Principal.system("worker")`, which holds it in every
  project). The permission is asked before anything is read.
- A monitor watches an endpoint that exists; its params fit its kind; a column it names is one
  the model reads (its signature, or its training data's profile): anything else is refused
  whole, with nothing written.
- Each closed window of a monitor is evaluated once: one result row per (monitor, window). A
  worker claims a window (a lease row) before evaluating it and writes the result in the
  transaction that gives the claim up, only while the claim is still its own, so two workers
  never both evaluate a window; a worker that dies leaves a lease that expires, and the next
  pass takes the window over. Windows whose labels changed are evaluated again (their row
  replaced under a new `seq`).
- Feature drift and the contract compare live inputs with the training data of the version
  that served most of the window (the training run's input dataset version, as the gates find
  it) or an explicit `reference: dataset@vN`, from its stored profile: the reference's rows
  are never read. The live side of feature drift is the merge of the profiles stored when the
  window's batches were shipped (per version and 5-minute bucket: `window_profiles`); a window
  not made of whole buckets, or holding segments shipped before profiles were stored, reads the
  log. Prediction drift compares scores with the monitor's first full window.
- Every write is audited: monitors created, changed, deleted, and each window's result.
"""

from tandem.monitoring.service.base import (
    GRACE_MS,
    LEASE_MS,
    LOOKBACK_WINDOWS,
    MonitorCore,
    Outcomes,
)
from tandem.monitoring.service.jobs import compute
from tandem.monitoring.service.plan import PlanOps, default_monitors
from tandem.monitoring.service.windows import WindowOps

__all__ = [
    "GRACE_MS",
    "LEASE_MS",
    "LOOKBACK_WINDOWS",
    "MonitorCore",
    "MonitoringService",
    "Outcomes",
    "compute",
    "default_monitors",
]


class MonitoringService(PlanOps, WindowOps):
    """The monitoring domain's one entry, for the worker, the faces and other domains. Its
    operations live in a module each, over the shared `MonitorCore`:

        monitors.py  create, list, get, update, delete, results; what alerting and gc read
        windows.py   check and evaluate_due: due windows claimed, computed, judged, written
        jobs.py      what a window's evaluation reads (log, stored profiles, reference) and
                     `compute`, the part an executor runs
        plan.py      project.yaml's `monitors:`, the defaults of a deploy, the gates' plan
        base.py      collaborators, settings, the checks of a spec, the training reference
    """
