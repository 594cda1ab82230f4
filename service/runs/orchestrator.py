"""The runs of one service process: it creates each ``Run`` (``run.py``, which owns the
run's life from admission to record), tracks them until they are recorded, and holds what
they share: the sandbox pool and its fair slots, the database and its threads, the shared
HTTP clients, leases, metrics, shutdown (SPEC §7). ``run.py`` describes one query's path.

Public API (for the routes and the web pages; one ``Orchestrator`` per process, in
``app.state.orchestrator``):

    caller = await orchestrator.authorize_bot(name, bearer)      # NotFound / Unauthorized
    stream = orchestrator.query_run(caller, query)               # a Poe query to /bots/{name}
    stream = await orchestrator.console_run(creator_id, name, messages)   # NotFound
    return sse_response(stream)           # or: async for event in stream: event.event, .data

A ``Run`` is iterated once: ``meta`` at once, then the run's events, ``done`` last,
whatever happens. Closing it early (a client that went away) kills the run's child. When
iteration ends, however it ends, the run is recorded (status, transcript, figures), counted
in the metrics and logged in one line. Everything a run needs is in the database or in the
run's own objects, so any replica can serve any request; the per-creator quota is a
database transaction (``quotas.py``). Database calls run in worker threads: the event loop
streams every other run meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, TypeVarTuple

import anyio
import anyio.to_thread
import fastapi_poe as fp
from sqlalchemy import Connection

from sandbox import (
    BotCallRequest,
    FairSlots,
    Limits,
    SandboxStatus,
    TemplatePools,
)
from service.errors import ServiceBusy
from service.metrics import Metrics, PoolFigures
from service.runs.arrivals import Arrivals
from service.runs.botcalls import BotRouter, build_query
from service.runs.botscript import (
    BotCaller,
    BotScript,
    authorize_bot,
    creators_bot,
    find_bot,
    own_bot,
)
from service.runs.egress import EgressPolicy
from service.runs.extraction import SaveChecks
from service.runs.leases import RunLeases
from service.runs.outgoing import OutgoingClients
from service.runs.quotas import stale_after
from service.runs.retention import Retention
from service.runs.run import Run
from service.runs.services import RunCalls
from service.security import AccessKeyCipher
from service.settings import Settings
from service.shutdown import RESTARTING, Shutdown
from service.sources import CheckedSource
from service.store.creators import note_token_use
from service.store.db import QUERY_THREADS, RECORD_THREADS, Database
from service.store.runs import add_report
from service.store.scripts import settings_refetched
from service.tracing import NO_TRACING

logger = logging.getLogger(__name__)

RECORD_WAIT_S = 30.0  # at shutdown, for runs still being recorded
RESTART_RETRY_S = 5
T = TypeVar("T")
Args = TypeVarTuple("Args")


def _report_pool_start(task: asyncio.Task[None]) -> None:
    # Runs that wait for the pool see the failure too; this is for /readyz's operator.
    if not task.cancelled() and task.exception() is not None:
        logger.error("the sandbox pool did not start", exc_info=task.exception())


class Orchestrator:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        cipher: AccessKeyCipher,
        pool: TemplatePools,
        *,
        metrics: Metrics | None = None,
        tracing: Any = NO_TRACING,
    ) -> None:
        self.settings = settings
        self.db = db
        self.cipher = cipher
        self.pool = pool
        self.pool_slots = settings.sandbox_slots
        # Queries in sandboxes at once; more wait in their creator's queue, served in turn.
        self.slots = FairSlots(settings.sandbox_slots)
        self.metrics = metrics or Metrics()
        self.tracing = tracing  # service/tracing.py: spans of runs, or none at all
        self.limits = Limits(
            timeout_s=float(settings.run_timeout_s),
            cpu_s=settings.run_cpu_s,
            memory_mb=settings.run_memory_mb,
            disk_mb=settings.run_disk_mb,
            max_output_chars=settings.run_max_output_chars,
            max_bot_calls=settings.run_max_bot_calls,
        )
        self.outgoing = OutgoingClients()  # bot calls and uploads of every run, kept alive
        self.egress_policy = EgressPolicy.from_settings(settings)
        self._pool_start: asyncio.Task[None] | None = None
        self._recording: dict[uuid.UUID, asyncio.Task[None]] = {}
        self.saves = SaveChecks(pool, self.limits, self._pool_ready)
        # SQLite runs one writing transaction at a time (BEGIN IMMEDIATE) and makes waiters
        # sleep and retry; queueing this process's run transactions on one thread instead
        # keeps the first event of hundreds of queries at once well within Poe's 5 s.
        # On a server database, a few threads at once (QUERY_THREADS, store/db.py), and the
        # records and upkeep beside them (RECORD_THREADS), so they never hold up a first event.
        sqlite = db.engine.dialect.name == "sqlite"
        self._db_limiter = anyio.CapacityLimiter(1 if sqlite else QUERY_THREADS)
        self._record_limiter = self._db_limiter if sqlite else anyio.CapacityLimiter(RECORD_THREADS)
        # Authorizations, and so the first events of a burst, never queue behind the runs'
        # writes: threads of their own (on SQLite reads take no write lock: WAL,
        # Database.reading). Sharing the writers' threads on PostgreSQL sent 328 of 500
        # meta events later than 5 s (benchmarks/scale.py).
        self._read_limiter = anyio.CapacityLimiter(QUERY_THREADS)
        self.shutdown = Shutdown(settings.shutdown_grace_s)
        self.arrivals = Arrivals()  # runs' work waits for the first events of a burst
        self.leases = RunLeases(
            db,
            lease_s=settings.run_lease_s,
            stale_after=stale_after(settings.run_timeout_s),
            limiter=self._record_limiter,
        )
        self.retention = Retention(
            db,
            retention_days=settings.retention_days,
            interval_s=settings.retention_interval_s,
            limiter=self._record_limiter,
        )

    # -- life cycle ---------------------------------------------------------------------

    def start_pool(self) -> None:
        """Start the sandbox pool in the background: the app serves (and /readyz says
        "not ready") while the template warms up; runs wait for it."""
        if self._pool_start is None or (
            self._pool_start.done()
            and (self._pool_start.cancelled() or self._pool_start.exception() is not None)
        ):
            self._pool_start = asyncio.get_running_loop().create_task(self.pool.start())
            self._pool_start.add_done_callback(_report_pool_start)

    async def _pool_ready(self) -> None:
        self.start_pool()
        assert self._pool_start is not None
        await asyncio.shield(self._pool_start)

    async def close(self) -> None:
        """Wait for runs still being recorded, then stop the pool (killing any child)."""
        await self.recorded()
        if self._pool_start is not None:
            await asyncio.wait({self._pool_start})
            await self.pool.close()
        await self.outgoing.aclose()

    def sandbox_status(self) -> SandboxStatus | None:
        """The pool's state, or None while no run has started it (lazy start)."""
        return None if self._pool_start is None else self.pool.status()

    async def sandbox_ready(self) -> bool:
        """/readyz: the template is warm."""
        status = self.sandbox_status()
        return status is not None and status.warm

    def pool_figures(self) -> PoolFigures | None:
        status = self.sandbox_status()
        if status is None:
            return None
        busy, spares = self.pool.processes()
        return PoolFigures(
            self.pool_slots,
            busy,
            spares,
            status.warm,
            len(status.missing),
            dict(self.pool.runs_by_template),
        )

    # -- starting runs --------------------------------------------------------------------

    async def authorize_bot(self, name: str, credential: str | None) -> BotCaller:
        """The script behind ``/bots/{name}`` for this credential (NotFound, Unauthorized)."""
        with self.arrivals.arriving():
            caller: BotCaller = await self._in_connection(
                authorize_bot, name, credential, self.cipher, read_only=True
            )
        if caller.stale_token is not None:  # at most once a minute per token
            await self._in_connection(note_token_use, caller.stale_token)
        return caller

    async def find_bot(self, bot_name: str) -> BotScript | None:
        """Any creator's script named ``bot_name`` (for its public page)."""
        return await self._in_connection(find_bot, bot_name, self.cipher, read_only=True)

    async def find_own_bot(self, creator_id: int, bot_name: str) -> BotScript | None:
        """``creator_id``'s script named ``bot_name``: what a bot call of their scripts
        runs here; any other name goes to Poe (SPEC §8)."""
        return await self._in_connection(own_bot, creator_id, bot_name, self.cipher, read_only=True)

    async def checked_source(self, source: str, bot_name: str, creator_id: int) -> CheckedSource:
        """A source fit to save as ``bot_name``'s, its settings read (``SaveChecks``)."""
        return await self.saves.checked_source(source, bot_name, creator_id)

    async def settings_fetched(self, script: BotScript) -> None:
        """Poe fetched the script's settings: later queries need not ask it to."""
        await self._in_thread(settings_refetched, script.id)

    async def record_report(
        self, script: BotScript, kind: str, message_id: str | None, data: dict[str, Any]
    ) -> None:
        """Keep a report_* request, linked to the script's run for ``message_id``."""
        await self._in_thread(add_report, script.id, kind, message_id, data)

    def query_run(self, caller: BotCaller, query: fp.QueryRequest) -> Run:
        """A run for a Poe ``query`` request; bot calls and uploads use the script's access
        key, uploads go to Poe when the request itself carried that key."""
        self._refuse_when_draining()
        script = caller.script
        run = Run(
            self,
            script=script,
            trigger="poe",
            query=query,
            message_id=query.message_id or None,
            access_key=script.access_key,
            poe_uploads=caller.from_poe and script.access_key is not None,
            budget=RunCalls.for_query(self.settings.run_max_bot_calls),
            refetch_settings=script.refetch_settings,
        )
        return run

    async def console_run(
        self,
        creator_id: int,
        script_name: str,
        messages: Sequence[fp.ProtocolMessage],
        *,
        draft_source: str | None = None,
    ) -> Run:
        """A test-console run of ``creator_id``'s script (NotFound when not theirs): the
        same run as a Poe query; bot calls use the script's stored access key, if any, and
        attachments are kept by the service. ``draft_source``: run this unsaved text instead
        of the current version (the editor's buffer; recorded under the current version)."""
        self._refuse_when_draining()
        script = await self._in_connection(
            creators_bot, creator_id, script_name, self.cipher, read_only=True
        )
        if draft_source is not None:
            script = dataclasses.replace(script, source=draft_source)
        query = fp.QueryRequest(
            version=fp.client.PROTOCOL_VERSION,
            type="query",
            query=list(messages),
            user_id=f"console-{creator_id}",
            conversation_id=f"console-{uuid.uuid4().hex}",
            message_id=f"console-{uuid.uuid4().hex}",
        )
        run = Run(
            self,
            script=script,
            trigger="console",
            query=query,
            message_id=None,
            access_key=script.access_key,
            poe_uploads=False,
            budget=RunCalls.for_query(self.settings.run_max_bot_calls),
        )
        return run

    def _refuse_when_draining(self) -> None:
        if self.shutdown.draining:  # another replica takes it (the load balancer retries)
            raise ServiceBusy(RESTARTING, retry_after_s=RESTART_RETRY_S)

    def nested_run(
        self, parent: Run, bot: BotScript, request: BotCallRequest, router: BotRouter
    ) -> Run:
        """``bot`` called by ``parent``'s script; ``router`` is the nested run's (its depth)."""
        query = build_query(
            request,
            user_id=parent.query.user_id,
            conversation_id=parent.query.conversation_id,
            message_id=parent.query.message_id,
        )
        run = Run(
            self,
            script=bot,
            trigger=parent.trigger,
            query=query,
            message_id=parent.message_id,
            access_key=parent.access_key,  # the query's key, for the whole query (SPEC §8)
            poe_uploads=parent.poe_uploads,
            budget=RunCalls(parent.budget.query_budget),
            uploads=parent.uploads,
            depth=router.depth,
            parent_id=parent.id,
            inherited_secrets=parent.redactor.values,
        )
        return run

    # -- one run --------------------------------------------------------------------------

    # -- records ------------------------------------------------------------------------

    def track(self, run: Run) -> None:
        """``run``'s response is over: count it, and record it in a task of its own (a
        cancelled caller cannot stop it; ``close`` waits for it)."""
        ended = run.outcome()  # counted now: /metrics right after the response
        self.metrics.run_ended(ended.status, run.trigger, ended.duration_ms / 1000)
        with self.tracing.current(run.span):  # the record's database work is the run's
            task = asyncio.get_running_loop().create_task(run.record(ended))
        self._recording[run.id] = task
        task.add_done_callback(lambda _: self._recording.pop(run.id, None))

    async def recorded(self, timeout_s: float = RECORD_WAIT_S) -> None:
        """Wait for the records this process is still writing: a run read right after its
        response (on this replica) shows its whole transcript."""
        if self._recording:
            await asyncio.wait(set(self._recording.values()), timeout=timeout_s)

    async def _in_thread(self, function: Any, *args: Any) -> Any:
        """``function(session, *args)`` in one transaction, in a worker thread."""

        def call() -> Any:
            with self.db.transaction() as session:
                return function(session, *args)

        return await anyio.to_thread.run_sync(call, limiter=self._db_limiter)

    async def _in_connection(
        self,
        function: Callable[[Connection, *Args], T],
        *args: *Args,
        read_only: bool = False,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> T:
        """``function(connection, *args)`` in one Core transaction, in a worker thread: the
        query path's statements (``read_only``: on SQLite, without the write lock)."""

        def call() -> T:
            with self.db.reading() if read_only else self.db.connection() as connection:
                return function(connection, *args)

        default = self._read_limiter if read_only else self._db_limiter
        return await anyio.to_thread.run_sync(call, limiter=limiter or default)
