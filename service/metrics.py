"""This process's figures for ``/metrics`` (SPEC §9), kept by ``prometheus_client``.

One ``Metrics`` per app (``app.state.metrics``), each with its own registry, so that several
apps in one process (tests) never share counts. Per process, as Prometheus expects of
replicas: each is scraped on its own, nothing a run needs is kept here. The methods below are
the whole API: any part of the service that has something to count calls one of them.
Label values come from short fixed sets (route templates, statuses, kinds) and creator names;
never from a query, a URL or an error text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext

# The 0.0.4 text format is what generate_latest writes and what every Prometheus reads.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds. A run is limited to RUN_TIMEOUT_S (600 by default, Poe's own deadline); an SSE
# response lasts as long as its run.
DURATION_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
HTTP_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0, 600.0)
START_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
QUEUE_BUCKETS_S = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
TEMPLATES = ("lean", "warm")


@dataclass(frozen=True)
class PoolFigures:
    """The sandbox pool's state at scrape time (``Orchestrator.pool_figures``)."""

    slots: int
    busy: int
    spares: int
    warm: bool
    missing_protections: int
    runs_by_template: dict[str, int] = field(default_factory=dict)


class Metrics:
    """The instruments, and one method per thing the service counts."""

    def __init__(self) -> None:
        # *_created series only double the output. (prometheus_client leaves it unannotated.)
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        r = self.registry
        self._http_requests = Counter(
            "scriptbots_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self._http_duration = Histogram(
            "scriptbots_http_request_duration_seconds",
            "Time from a request to the end of its response (an SSE response lasts its run).",
            ["method", "route"],
            buckets=HTTP_BUCKETS_S,
            registry=r,
        )
        self._runs = Counter(
            "scriptbots_runs",
            "Runs that ended, by status and trigger.",
            ["status", "trigger"],
            registry=r,
        )
        self._run_duration = Histogram(
            "scriptbots_run_duration_seconds",
            "Wall-clock time of runs that ended.",
            buckets=DURATION_BUCKETS_S,
            registry=r,
        )
        self._sandbox_start = Histogram(
            "scriptbots_sandbox_start_seconds",
            "Time from handing a run to the sandbox pool to its script starting.",
            buckets=START_BUCKETS_S,
            registry=r,
        )
        self._queue_wait = Histogram(
            "scriptbots_queue_wait_seconds",
            "Time a run waited before it was handed to the sandbox pool, by creator.",
            ["creator"],
            buckets=QUEUE_BUCKETS_S,
            registry=r,
        )
        self._active = Gauge(
            "scriptbots_active_runs", "Runs in progress in this process.", registry=r
        )
        self._bot_calls = Counter(
            "scriptbots_bot_calls",
            "Bot calls of scripts, by kind (hosted: a script here; upstream: POE_API_BASE) "
            "and outcome.",
            ["kind", "outcome"],
            registry=r,
        )
        self._egress = Counter(
            "scriptbots_egress_requests",
            "HTTP requests the service made for scripts (attachment fetches, uploads, a "
            "script's own network), by kind and outcome.",
            ["kind", "outcome"],
            registry=r,
        )
        self._db_errors = Counter(
            "scriptbots_database_errors",
            "Errors the database driver raised, by exception class.",
            ["error"],
            registry=r,
        )
        for status in ("ok", "error", "timeout", "killed", "rejected"):
            for trigger in ("poe", "console"):
                self._runs.labels(status, trigger)  # present at 0 from the start

    # -- what the service counts ------------------------------------------------------------

    def http_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        self._http_requests.labels(method, route, str(status)).inc()
        self._http_duration.labels(method, route).observe(duration_s)

    def run_started(self) -> None:
        self._active.inc()

    def run_stopped(self) -> None:
        self._active.dec()

    def run_ended(self, status: str, trigger: str, duration_s: float) -> None:
        self._runs.labels(status, trigger).inc()
        self._run_duration.observe(duration_s)

    def sandbox_started(self, start_s: float) -> None:
        self._sandbox_start.observe(start_s)

    def queue_waited(self, creator: str, wait_s: float) -> None:
        """A run of ``creator``'s waited ``wait_s`` for its turn (admission, a free slot)."""
        self._queue_wait.labels(creator).observe(wait_s)

    def bot_call(self, kind: str, outcome: str) -> None:
        """``kind``: hosted or upstream; ``outcome``: ok, refused, limit or cancelled."""
        self._bot_calls.labels(kind, outcome).inc()

    def egress(self, kind: str, outcome: str) -> None:
        """``kind``: fetch, upload, network...; ``outcome``: ok, refused or failed."""
        self._egress.labels(kind, outcome).inc()

    def database_error(self, error: str) -> None:
        self._db_errors.labels(error).inc()

    def watch_database(self, engine: Engine) -> None:
        """Count every error the driver raises on ``engine``, handled further up or not."""

        def count(context: ExceptionContext) -> None:
            self.database_error(type(context.original_exception).__name__)

        event.listen(engine, "handle_error", count)

    # -- the pool, read when scraped ------------------------------------------------------

    def watch_pool(self, figures: Callable[[], PoolFigures | None]) -> None:
        """Report the pool's state at each scrape; ``figures`` answers None before it starts."""
        self.registry.register(_PoolCollector(figures))

    def render(self) -> bytes:
        """The exposition text (``CONTENT_TYPE``)."""
        return prometheus_client.generate_latest(self.registry)


class _PoolCollector(Collector):
    def __init__(self, figures: Callable[[], PoolFigures | None]) -> None:
        self._figures = figures

    def describe(self) -> list[Metric]:
        return []  # the families depend on the pool having started

    def collect(self) -> Iterator[Metric]:
        pool = self._figures()
        if pool is None:
            return
        yield _gauge(
            "scriptbots_sandbox_pool_slots",
            "Sandbox processes this process may run at once.",
            pool.slots,
        )
        processes = GaugeMetricFamily(
            "scriptbots_sandbox_pool_processes",
            "Sandbox child processes alive now, by state.",
            labels=["state"],
        )
        processes.add_metric(["busy"], pool.busy)
        processes.add_metric(["spare"], pool.spares)
        yield processes
        yield _gauge(
            "scriptbots_sandbox_warm", "Whether the sandbox template process is warm.", pool.warm
        )
        yield _gauge(
            "scriptbots_sandbox_protections_missing",
            "Isolation layers this machine does not give runs.",
            pool.missing_protections,
        )
        runs = CounterMetricFamily(
            "scriptbots_sandbox_runs",
            "Runs started, by template: lean, or warm (heavy packages preimported, for "
            "scripts that import them).",
            labels=["template"],
        )
        for name in TEMPLATES:
            runs.add_metric([name], pool.runs_by_template.get(name, 0))
        yield runs


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))
