"""The run figures of this process for ``/metrics``, in Prometheus' text format (SPEC §9).

Per process, as Prometheus expects of replicas (each is scraped on its own); nothing a run
needs is kept here. Counters only grow; the lock makes updates from the event loop and
reads from a scrape consistent.
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from dataclasses import dataclass, field

# Seconds; a run is limited to RUN_TIMEOUT_S (120 by default) and Poe allows 600.
DURATION_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
STATUSES = ("ok", "error", "timeout", "killed", "rejected")


@dataclass(frozen=True)
class PoolFigures:
    slots: int
    busy: int
    spares: int
    warm: bool
    missing_protections: int
    runs_by_template: dict[str, int] = field(default_factory=dict)


class RunMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_status: Counter[str] = Counter()
        self._buckets = [0] * len(DURATION_BUCKETS_S)
        self._duration_sum_s = 0.0
        self._count = 0
        self.active = 0

    def run_started(self) -> None:
        with self._lock:
            self.active += 1

    def run_stopped(self) -> None:
        with self._lock:
            self.active -= 1

    def run_ended(self, status: str, duration_s: float) -> None:
        with self._lock:
            self._by_status[status] += 1
            self._count += 1
            self._duration_sum_s += duration_s
            first = bisect.bisect_left(DURATION_BUCKETS_S, duration_s)
            for index in range(first, len(self._buckets)):
                self._buckets[index] += 1

    def render(self, pool: PoolFigures | None) -> str:
        """The exposition text (``text/plain; version=0.0.4``)."""
        with self._lock:
            lines = [
                "# HELP scriptbots_runs_total Runs that ended, by status.",
                "# TYPE scriptbots_runs_total counter",
            ]
            statuses = list(STATUSES) + sorted(set(self._by_status) - set(STATUSES))
            lines += [
                f'scriptbots_runs_total{{status="{s}"}} {self._by_status[s]}' for s in statuses
            ]
            lines += [
                "# HELP scriptbots_run_duration_seconds Wall-clock time of runs that ended.",
                "# TYPE scriptbots_run_duration_seconds histogram",
            ]
            for bound, count in zip(DURATION_BUCKETS_S, self._buckets, strict=True):
                lines.append(f'scriptbots_run_duration_seconds_bucket{{le="{bound:g}"}} {count}')
            lines += [
                f'scriptbots_run_duration_seconds_bucket{{le="+Inf"}} {self._count}',
                f"scriptbots_run_duration_seconds_sum {self._duration_sum_s:.6f}",
                f"scriptbots_run_duration_seconds_count {self._count}",
                "# HELP scriptbots_active_runs Runs in progress in this process.",
                "# TYPE scriptbots_active_runs gauge",
                f"scriptbots_active_runs {self.active}",
            ]
        if pool is not None:
            lines += [
                "# HELP scriptbots_sandbox_pool_slots Sandbox processes this process may run "
                "at once.",
                "# TYPE scriptbots_sandbox_pool_slots gauge",
                f"scriptbots_sandbox_pool_slots {pool.slots}",
                "# HELP scriptbots_sandbox_pool_processes Sandbox child processes alive now, "
                "by state.",
                "# TYPE scriptbots_sandbox_pool_processes gauge",
                f'scriptbots_sandbox_pool_processes{{state="busy"}} {pool.busy}',
                f'scriptbots_sandbox_pool_processes{{state="spare"}} {pool.spares}',
                "# HELP scriptbots_sandbox_warm Whether the sandbox template process is warm.",
                "# TYPE scriptbots_sandbox_warm gauge",
                f"scriptbots_sandbox_warm {int(pool.warm)}",
                "# HELP scriptbots_sandbox_protections_missing Isolation layers this machine "
                "does not give runs.",
                "# TYPE scriptbots_sandbox_protections_missing gauge",
                f"scriptbots_sandbox_protections_missing {pool.missing_protections}",
                "# HELP scriptbots_sandbox_runs_total Runs started, by template: lean, or warm "
                "(heavy packages preimported, for scripts that import them).",
                "# TYPE scriptbots_sandbox_runs_total counter",
                *(
                    f'scriptbots_sandbox_runs_total{{template="{name}"}} '
                    f"{pool.runs_by_template.get(name, 0)}"
                    for name in ("lean", "warm")
                ),
            ]
        return "\n".join(lines) + "\n"
