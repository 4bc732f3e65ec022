"""The gateway's control plane: it keeps the data plane serving the endpoint's current policy.

Four daemon threads, none of them on the request path:

- the **poller** fetches the endpoint's `Policy` every `poll_s` seconds with its policy version
  as the ETag (the hub answers 304, cheaply, while nothing changed) and hands a new one to
- the **loader**, which loads the models of routes it has not loaded yet (the gateway keeps
  serving the old table meanwhile), then installs the new routing table in one atomic swap. A
  version that fails to load is never installed: the old table keeps serving, and the failure
  goes to the hub in the next stats report (the hub fails the rollout and reverts its traffic,
  which is the next policy). Only when nothing serves yet does a partial table go in.
- the **reporter** drains the `StatsRecorder`'s windows every `report_s` seconds into
  `client.deployments.report`. The hub's controller runs on every report (the gateway is its
  clock); when the acknowledgement names another policy version, the poller fetches at once.
- the prediction log's **shipper** (`tandem.serving.predlog`).

When the hub is unreachable (or refuses a call), the gateway keeps serving the last policy it
installed; the poller and the reporter retry with exponential backoff up to `max_backoff_s`,
and the reporter keeps the windows it could not send (up to a report's worth) to send later.
The installed policy is also kept in a state file beside the model cache, so a gateway that
restarts while the hub is unreachable serves the last policy it had (its model files are in
the loader's cache) until the hub answers again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tandem.core.clock import now_ms
from tandem.deployments.models import (
    LatencyBuckets,
    Policy,
    PolicyRoute,
    StatsReport,
    WindowStats,
)
from tandem.errors import TandemError
from tandem.serving.predlog import TRANSIENT, PredictionLog, Shipper

if TYPE_CHECKING:
    from tandem.sdk.client import Client

log = logging.getLogger(__name__)

LoadRoute = Callable[[PolicyRoute], Any]
"""Loads one route's model into a predictor (the data plane's loader); raises when it cannot."""
InstallTable = Callable[[Policy, Mapping[str, Any]], None]
"""Builds the routing table of a policy from its routes' predictors (by deployment id) and swaps
it into the gateway atomically."""
DrainWindows = Callable[[], list[WindowStats]]
"""Closes the recorder's open windows and returns them (`WindowRecorder.drain`)."""

MAX_PENDING_WINDOWS = 10_000  # what one StatsReport carries at most


def gateway_id() -> str:
    """This gateway process's name in the hub's stats: host and process id."""
    return f"{socket.gethostname()[:80]}-{os.getpid()}"


def describe(exc: BaseException) -> str:
    """A one-line cause for the hub's history: the message, with the error's kind."""
    if isinstance(exc, TandemError):
        return exc.message
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Controller:
    """Keeps a gateway on its endpoint's policy; see the module docstring.

    Args:
        client: the SDK client of the hub (embedded or remote).
        endpoint: the endpoint's name.
        project: the endpoint's project.
        load: loads a route's model (see `LoadRoute`).
        install: swaps a new routing table in (see `InstallTable`).
        windows: drains the gateway's figures, sent in the stats reports.
        predlog: the prediction log (its drop counts go into the windows).
        poll_s: seconds between policy fetches.
        report_s: seconds between stats reports.
        max_backoff_s: the longest wait between retries while the hub is unreachable.
        ship_predictions: run the prediction log's shipper.
        state: the file the installed policy is kept in, for a restart while the hub is
            unreachable (None: not kept).
    """

    def __init__(
        self,
        client: Client,
        endpoint: str,
        project: str,
        *,
        load: LoadRoute,
        install: InstallTable,
        windows: DrainWindows,
        predlog: PredictionLog,
        gateway: str | None = None,
        poll_s: float = 1.0,
        report_s: float = 1.0,
        max_backoff_s: float = 30.0,
        ship_predictions: bool = True,
        state: Path | None = None,
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.project = project
        self._load = load
        self._install = install
        self._drain = windows
        self.predlog = predlog
        self.gateway = gateway or gateway_id()
        self.poll_s = poll_s
        self.report_s = report_s
        self.max_backoff_s = max_backoff_s
        self.state = state
        self.fetched: Policy | None = None  # the newest policy the hub gave
        self.installed: Policy | None = None  # the policy being served
        self.ready = threading.Event()  # set once a policy is installed
        # Set once the first policy is installed, or it is clear none will be soon (the hub is
        # unreachable and no policy was kept, or nothing in it loaded).
        self.settled = threading.Event()
        self.hub_reachable = True
        self._predictors: dict[str, Any] = {}  # deployment id -> loaded predictor
        self._failed: dict[str, str] = {}  # deployment id -> why it did not load
        self._unreported: dict[str, str] = {}  # failures the hub has not acknowledged
        self._pending: list[WindowStats] = []  # windows not sent yet (hub unreachable)
        self._lock = threading.Lock()
        self._wanted: Policy | None = None
        self._wanted_ready = threading.Condition(self._lock)
        self._refetch = threading.Event()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._poll_loop, name="tandem-poller", daemon=True),
            threading.Thread(target=self._load_loop, name="tandem-loader", daemon=True),
            threading.Thread(target=self._report_loop, name="tandem-reporter", daemon=True),
        ]
        self.shipper: Shipper | None = None
        if ship_predictions:
            self.shipper = Shipper(predlog, self._ship)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        if self.shipper is not None:
            self.shipper.start()

    def wait_settled(self, timeout: float) -> bool:
        """Wait until the first policy serves (True), or it is clear it will not soon (the hub
        unreachable with no policy kept, or nothing in it loaded), or `timeout` passes."""
        self.settled.wait(timeout)
        return self.ready.is_set()

    def stop(self, drain_s: float = 5.0) -> None:
        """Stop the threads: one last stats report, and the prediction log shipped first (for
        up to `drain_s` seconds)."""
        self._stop.set()
        self._refetch.set()
        with self._wanted_ready:
            self._wanted_ready.notify_all()
        for thread in self._threads:
            thread.join(5.0)
        with contextlib.suppress(TandemError):
            self._report_once()
        if self.shipper is not None:
            self.shipper.stop(drain_s)

    # -- the poller -----------------------------------------------------------------------

    def _poll_loop(self) -> None:
        delay = self.poll_s
        while not self._stop.is_set():
            try:
                self.poll_once()
            except TandemError as exc:
                self._unreachable("policy fetch", exc)
                if isinstance(exc, TRANSIENT) and self.fetched is None:
                    self._resume_from_state()
                if self.fetched is None:
                    self.settled.set()
                delay = self._backoff(delay, self.poll_s)
                continue
            except Exception:  # the thread must live on: the gateway keeps serving
                log.exception("gateway %s: policy fetch failed", self.gateway)
                delay = self._backoff(delay, self.poll_s)
                continue
            delay = self.poll_s
            self._refetch.wait(self.poll_s)
            self._refetch.clear()

    def _backoff(self, delay: float, base: float) -> float:
        """Wait before the next attempt; the next delay. Doubling up to max_backoff_s, with
        jitter, so gateways that lost the hub together do not all call it at the same moment."""
        delay = min(max(delay, base) * 2, self.max_backoff_s)
        self._stop.wait(delay * random.uniform(0.8, 1.0))
        return delay

    def poll_once(self) -> Policy | None:
        """Fetch the policy if it changed (ETag) and hand it to the loader; the new policy, or
        None when it did not change."""
        etag = self.fetched.policy_version if self.fetched is not None else None
        policy = self.client.deployments.policy(self.endpoint, self.project, etag=etag)
        self._reachable()
        if policy is None or (etag is not None and policy.policy_version == etag):
            return None
        log.info(
            "gateway %s: policy %d of %s/%s fetched",
            self.gateway, policy.policy_version, self.project, self.endpoint,
        )  # fmt: skip
        self.fetched = policy
        with self._wanted_ready:
            self._wanted = policy
            self._wanted_ready.notify_all()
        return policy

    def _resume_from_state(self) -> None:
        """The hub did not answer the first fetch: serve the policy this gateway last had."""
        if self.state is None or not self.state.is_file():
            return
        try:
            policy = Policy.model_validate_json(self.state.read_bytes())
        except (OSError, ValueError) as exc:
            log.warning("gateway %s: no policy from %s: %s", self.gateway, self.state, exc)
            return
        if (policy.project, policy.endpoint) != (self.project, self.endpoint):
            return
        log.warning(
            "gateway %s: the hub is unreachable: serving policy %d kept in %s",
            self.gateway, policy.policy_version, self.state,
        )  # fmt: skip
        self.fetched = policy
        with self._wanted_ready:
            self._wanted = policy
            self._wanted_ready.notify_all()

    def _keep(self, policy: Policy) -> None:
        if self.state is None:
            return
        try:
            self.state.parent.mkdir(parents=True, exist_ok=True)
            staging = self.state.with_name(f".{self.state.name}.{os.getpid()}")
            staging.write_bytes(policy.model_dump_json().encode())
            os.replace(staging, self.state)  # atomic: a kill never leaves half a file
        except OSError as exc:
            log.warning("gateway %s: policy not kept in %s: %s", self.gateway, self.state, exc)

    def _unreachable(self, what: str, exc: TandemError) -> None:
        if self.hub_reachable:
            log.warning(
                "gateway %s: %s failed, serving policy %s and retrying: %s", self.gateway, what,
                self.installed.policy_version if self.installed else "none", exc.message,
            )  # fmt: skip
        self.hub_reachable = False

    def _reachable(self) -> None:
        if not self.hub_reachable:
            log.warning("gateway %s: the hub answers again", self.gateway)
        self.hub_reachable = True

    # -- the loader -----------------------------------------------------------------------

    def _load_loop(self) -> None:
        while not self._stop.is_set():
            with self._wanted_ready:
                while self._wanted is None and not self._stop.is_set():
                    self._wanted_ready.wait()
                policy, self._wanted = self._wanted, None
            if policy is None:
                return
            try:
                self.apply(policy)
            except Exception:
                log.exception("gateway %s: policy %d not applied", self.gateway,
                              policy.policy_version)  # fmt: skip

    def apply(self, policy: Policy) -> bool:
        """Load what `policy` needs and install it; False when a route failed to load and the
        old table keeps serving."""
        predictors: dict[str, Any] = {}
        failures: dict[str, str] = {}
        for route in policy.routes:
            if route.deployment in self._predictors:
                predictors[route.deployment] = self._predictors[route.deployment]
            elif route.deployment in self._failed:  # a broken file stays broken: no retry
                failures[route.deployment] = self._failed[route.deployment]
            else:
                try:
                    predictors[route.deployment] = self._load(route)
                except Exception as exc:  # the version's files or library: report it
                    cause = describe(exc)
                    log.error(
                        "gateway %s: %s@%d (deployment %s) did not load: %s",
                        self.gateway, route.model, route.version, route.deployment, cause,
                    )  # fmt: skip
                    failures[route.deployment] = self._failed[route.deployment] = cause
                    with self._lock:
                        self._unreported[route.deployment] = cause
        if failures and self.installed is not None:
            self._predictors.update(predictors)  # loaded ones are ready for the next policy
            return False
        if failures and not predictors:
            self.settled.set()
        if failures:  # nothing serves yet: serve what loaded
            policy = policy.model_copy(
                update={"routes": [r for r in policy.routes if r.deployment in predictors]}
            )
        self._install(policy, predictors)
        self._predictors = predictors  # the replaced versions' models are freed
        self.installed = policy
        if not failures:
            self._keep(policy)
        self.predlog.configure(sampling=policy.sampling, masked_columns=policy.masked_columns)
        self.ready.set()
        self.settled.set()
        log.info(
            "gateway %s: serving policy %d: %s", self.gateway, policy.policy_version,
            ", ".join(f"{r.model}@{r.version} {r.role.value} {r.weight:g}%" for r in policy.routes)
            or "no routes",
        )  # fmt: skip
        return not failures

    # -- the reporter ---------------------------------------------------------------------

    def _report_loop(self) -> None:
        delay = self.report_s
        while not self._stop.wait(self.report_s):
            try:
                self._report_once()
            except TRANSIENT as exc:
                self._unreachable("stats report", exc)
                delay = self._backoff(delay, self.report_s)
                continue
            except TandemError as exc:  # refused: sending these windows again would not help
                log.error("gateway %s: stats report refused: %s", self.gateway, exc.message)
                with self._lock:
                    self._pending.clear()
                delay = self._backoff(delay, self.report_s)
                continue
            except Exception:
                log.exception("gateway %s: stats report failed", self.gateway)
                delay = self._backoff(delay, self.report_s)
                continue
            delay = self.report_s

    def _report_once(self) -> None:
        """Send the windows since the last report (and any not sent before) with the load
        failures the hub has not acknowledged."""
        windows = with_dropped_logs(self._drain(), self.predlog.take_dropped())
        with self._lock:
            self._pending.extend(windows)
            del self._pending[:-MAX_PENDING_WINDOWS]  # the oldest go first
            pending, failures = list(self._pending), dict(self._unreported)
        served = self.installed or self.fetched
        if served is None:  # no policy yet: nothing the hub could judge
            return
        report = StatsReport(
            gateway=self.gateway,
            policy_version=served.policy_version,
            windows=pending,
            load_failures=failures,
        )
        ack = self.client.deployments.report(self.endpoint, report, self.project)
        self._reachable()
        with self._lock:
            del self._pending[: len(pending)]
            for deployment in failures:
                self._unreported.pop(deployment, None)
        known = self.fetched.policy_version if self.fetched is not None else None
        if ack.policy_version != known:
            self._refetch.set()

    # -- the prediction log ---------------------------------------------------------------

    def _ship(self, table: Any, batch: str) -> object:
        return self.client.predictions.ship(
            self.endpoint, table, gateway=self.gateway, batch=batch, project=self.project
        )


def with_dropped_logs(windows: list[WindowStats], dropped: Mapping[str, int]) -> list[WindowStats]:
    """`windows` with the prediction-log entries dropped per deployment added in (a deployment
    that dropped entries but has no window gets an empty one)."""
    if not dropped:
        return windows
    out = []
    for window in windows:
        extra = dropped.get(window.deployment, 0)
        out.append(window.model_copy(update={"dropped_logs": window.dropped_logs + extra}))
    end = max((w.end for w in windows), default=now_ms())
    for deployment in sorted(dropped.keys() - {w.deployment for w in windows}):
        out.append(
            WindowStats(
                deployment=deployment, start=end - 1, end=end, requests=0, errors=0,
                latency_counts=[0] * (len(LatencyBuckets.BOUNDS_MS) + 1),
                dropped_logs=dropped[deployment],
            )
        )  # fmt: skip
    return out
