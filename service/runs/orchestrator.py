"""One run, from the request to its record: quota, budget, sandbox, events, log (SPEC §7).

Public API (for the routes and the web pages; one ``Orchestrator`` per process, in
``app.state.orchestrator``):

    caller = await orchestrator.authorize_bot(name, bearer)      # NotFound / Unauthorized
    stream = orchestrator.query_run(caller, query)               # a Poe query to /bots/{name}
    stream = await orchestrator.console_run(creator_id, name, messages)   # NotFound
    return sse_response(stream)           # or: async for event in stream: event.event, .data

A ``RunStream`` is iterated once: ``meta`` at once, then the run's events, ``done`` last,
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
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import anyio
import anyio.to_thread
import fastapi_poe as fp

from sandbox import (
    BotCallRequest,
    FairSlots,
    Limits,
    RunEnd,
    RunStart,
    SandboxStatus,
    SandboxUnavailable,
    Started,
    TemplatePools,
)
from service.errors import ServiceBusy
from service.logs import log_run
from service.metrics import Metrics, PoolFigures
from service.runs.attachments import CappedUploader, PoeUploader, StoreUploader, UrlFetcher
from service.runs.botcalls import BotRouter, UpstreamBots, build_query
from service.runs.conversation import conversation
from service.runs.egress import Egress, EgressPolicy, HttpRecord
from service.runs.events import DISCONNECTED, PoeEventStream, RunItem, SseEvent, describe_end
from service.runs.extraction import SaveChecks
from service.runs.filestore import DatabaseAttachmentStore
from service.runs.hosted import (
    BotCaller,
    BotScript,
    authorize_bot,
    creators_bot,
    find_bot,
    own_bot,
)
from service.runs.leases import RunLeases
from service.runs.localbots import HostedBots
from service.runs.outgoing import OutgoingClients
from service.runs.quotas import admit_run, stale_after
from service.runs.redaction import Redactor
from service.runs.retention import Retention
from service.runs.retries import retrying
from service.runs.services import RunCalls, ScriptServices
from service.security import AccessKeyCipher
from service.settings import Settings
from service.shutdown import RESTARTING, Shutdown
from service.sources import CheckedSource
from service.store.creators import note_token_use
from service.store.db import QUERY_THREADS, RECORD_THREADS, Database
from service.store.runs import RunOutcome, add_report, finish_run, mark_finished, new_run
from service.store.scripts import settings_refetched
from service.store.tables import Run, utcnow

logger = logging.getLogger(__name__)

Trigger = Literal["poe", "console"]
RECORD_WAIT_S = 30.0  # at shutdown, for runs still being recorded
RESTART_RETRY_S = 5
UNAVAILABLE = "The sandbox is not available right now; try again in a moment."


def _report_pool_start(task: asyncio.Task[None]) -> None:
    # Runs that wait for the pool see the failure too; this is for /readyz's operator.
    if not task.cancelled() and task.exception() is not None:
        logger.error("the sandbox pool did not start", exc_info=task.exception())


def quota_message(max_runs: int) -> str:
    return (
        f"This bot's creator already has {max_runs} runs in progress, the most allowed "
        "at once; try again when one has finished."
    )


@dataclass(eq=False)
class _Run:
    """One run in progress: who and what it runs for, and what it spent."""

    script: BotScript
    trigger: Trigger
    query: fp.QueryRequest
    message_id: str | None  # Poe's message id, which reports refer to
    access_key: str | None  # for bot calls to Poe and uploads to Poe
    poe_uploads: bool  # attachments go to Poe (the query came from Poe with the key)
    budget: RunCalls
    # The query's attachments: at most 20 per response (SPEC §7), nested runs' included.
    uploads: CappedUploader | None = None
    depth: int = 0
    parent_id: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    started_at: datetime = field(default_factory=utcnow)
    started_s: float = field(default_factory=time.monotonic)
    admission: asyncio.Task[bool] | None = None
    rejected: bool = False
    refetch_settings: bool = False  # this run's meta tells Poe to fetch the settings
    # Its events (and so its transcript): the HTTP requests of the script join it.
    events: PoeEventStream | None = None

    # Masks the script's secrets in what the run leaves behind (output, errors, records).
    redactor: Redactor = field(init=False)

    def __post_init__(self) -> None:
        self.redactor = Redactor(self.script.environment.values())

    def record_http(self, record: HttpRecord) -> None:
        if self.events is not None:
            entry = dataclasses.replace(record, path=self.redactor.text(record.path)).entry()
            self.events.note("http", entry)

    def row(self, status: str = "running") -> Run:
        return new_run(
            run_id=self.id,
            script_id=self.script.id,
            version=self.script.version,
            trigger=self.trigger,
            started_at=self.started_at,
            message_id=self.message_id,
            user_id=self.query.user_id or None,
            conversation_id=self.query.conversation_id or None,
            parent_run_id=self.parent_id,
            status=status,
        )


class RunStream:
    """The Poe events of one run (``SseEvent``: ``.event``, ``.data`` as JSON text).
    Iterate once; the run's end is written before ``done``, its record when the iteration
    ends, in a task of its own."""

    def __init__(self, orchestrator: Orchestrator, run: _Run) -> None:
        self.run_id = run.id
        self._orchestrator = orchestrator
        self._run = run
        self._events = PoeEventStream(
            orchestrator._items(run),
            limits=orchestrator.limits,
            refetch_settings=run.refetch_settings,
            max_transcript_bytes=orchestrator.settings.run_max_transcript_mb * 1024 * 1024,
            before_done=lambda: orchestrator._mark_finished(run, self._events),
        )
        run.events = self._events

    def __aiter__(self) -> AsyncIterator[SseEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[SseEvent]:
        try:
            async with aclosing(aiter(self._events)) as events:  # type: ignore[type-var]
                async for event in events:
                    yield event
        finally:  # the record is written after the response (its end was, before done)
            self._orchestrator._record(self._run, self._events)

    async def server_sent_events(self) -> AsyncIterator[Any]:
        """The events as sse-starlette objects, for ``routes.sse.sse_response``."""
        async with aclosing(self._iterate()) as events:
            async for event in events:
                yield event.to_server_sent_event()


class Orchestrator:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        cipher: AccessKeyCipher,
        pool: TemplatePools,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.cipher = cipher
        self.pool = pool
        self.pool_slots = settings.sandbox_slots
        # Queries in sandboxes at once; more wait in their creator's queue, served in turn.
        self.slots = FairSlots(settings.sandbox_slots)
        self.metrics = metrics or Metrics()
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
        self.shutdown = Shutdown(settings.shutdown_grace_s)
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

    def query_run(self, caller: BotCaller, query: fp.QueryRequest) -> RunStream:
        """A run for a Poe ``query`` request; bot calls and uploads use the script's access
        key, uploads go to Poe when the request itself carried that key."""
        self._refuse_when_draining()
        script = caller.script
        run = _Run(
            script=script,
            trigger="poe",
            query=query,
            message_id=query.message_id or None,
            access_key=script.access_key,
            poe_uploads=caller.from_poe and script.access_key is not None,
            budget=RunCalls.for_query(self.settings.run_max_bot_calls),
            refetch_settings=script.refetch_settings,
        )
        return RunStream(self, run)

    async def console_run(
        self,
        creator_id: int,
        script_name: str,
        messages: Sequence[fp.ProtocolMessage],
        *,
        draft_source: str | None = None,
    ) -> RunStream:
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
        run = _Run(
            script=script,
            trigger="console",
            query=query,
            message_id=None,
            access_key=script.access_key,
            poe_uploads=False,
            budget=RunCalls.for_query(self.settings.run_max_bot_calls),
        )
        return RunStream(self, run)

    def _refuse_when_draining(self) -> None:
        if self.shutdown.draining:  # another replica takes it (the load balancer retries)
            raise ServiceBusy(RESTARTING, retry_after_s=RESTART_RETRY_S)

    def _run_nested(
        self, parent: _Run, bot: BotScript, request: BotCallRequest, router: BotRouter
    ) -> AsyncIterator[SseEvent]:
        """``bot`` called by ``parent``'s script; ``router`` is the nested run's (its depth)."""
        query = build_query(
            request,
            user_id=parent.query.user_id,
            conversation_id=parent.query.conversation_id,
            message_id=parent.query.message_id,
        )
        run = _Run(
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
        )
        return aiter(RunStream(self, run))

    # -- one run --------------------------------------------------------------------------

    async def _items(self, run: _Run) -> AsyncIterator[RunItem]:
        """What the sandbox does for ``run``, after admission (``PoeEventStream``'s source)."""
        # A task of its own: a client that leaves meanwhile cannot lose track of the row.
        run.admission = asyncio.get_running_loop().create_task(
            anyio.to_thread.run_sync(self._admit, run, limiter=self._db_limiter)
        )
        if not await asyncio.shield(run.admission):
            yield RunEnd("error", quota_message(self.settings.creator_max_concurrent_runs))
            return
        self.leases.hold(run.id)
        self.metrics.run_started()
        slot = False
        try:
            await self._pool_ready()
            # Nested runs go within their query's slot: waiting for one could deadlock.
            if run.depth == 0:
                creator = str(run.script.creator_id)
                if not await self.slots.acquire(creator, self.shutdown.stop):
                    yield RunEnd("killed", RESTARTING)
                    return
                slot = True
            handed_s = time.monotonic()
            self.metrics.queue_waited(run.script.creator_name, handed_s - run.started_s)
            start = RunStart(
                source=run.script.source,
                bot_name=run.script.name,
                conversation=conversation(run.query, run.script.settings),
                limits=self.limits,
                users=[user.model_dump(mode="json") for user in run.query.users],
                privacy_shield="half" if run.script.privacy_shield == "half" else "full",
                environment=run.script.environment,
            )
            items_of = self.pool.run(start, self._services(run), self.shutdown.stop)
            async with aclosing(items_of) as items:
                async for item in items:
                    if isinstance(item, Started):
                        self.metrics.sandbox_started(time.monotonic() - handed_s)
                    for shown in run.redactor.apply(item):
                        yield shown
        except SandboxUnavailable as exc:
            logger.warning("sandbox unavailable", extra={"run_id": str(run.id), "error": str(exc)})
            yield RunEnd("error", UNAVAILABLE)
        finally:
            if slot:
                self.slots.release()
            self.metrics.run_stopped()

    def _admit(self, run: _Run) -> bool:
        with self.db.connection() as session:
            if run.refetch_settings:  # the meta said so already: once is enough
                settings_refetched(session, run.script.id)
            admitted = admit_run(
                session,
                run.row(),
                creator_id=run.script.creator_id,
                max_concurrent=self.settings.creator_max_concurrent_runs,
                run_timeout_s=self.settings.run_timeout_s,
                lease_until=self.leases.expiry(),
            )
        run.rejected = not admitted
        return admitted

    def _services(self, run: _Run) -> ScriptServices:
        settings = self.settings
        upstream = UpstreamBots(
            str(settings.poe_api_base),
            access_key=run.access_key,
            user_id=run.query.user_id,
            conversation_id=run.query.conversation_id,
            message_id=run.query.message_id,
            budget=run.budget,
            session=self.outgoing.bots,
        )
        if run.uploads is None:
            if run.poe_uploads and run.access_key:
                inner: PoeUploader | StoreUploader = PoeUploader(
                    run.access_key,
                    base_url=str(settings.poe_file_upload_base),
                    session=self.outgoing.uploads,
                )
            else:  # kept with the query's run, whose response the files are part of
                store = DatabaseAttachmentStore(
                    self.db,
                    run.id,
                    creator_id=run.script.creator_id,
                    max_creator_bytes=settings.creator_max_files_mb * 1024 * 1024,
                )
                inner = StoreUploader(store, settings.base_url)
            run.uploads = CappedUploader(inner)
        return ScriptServices(
            BotRouter(
                upstream,
                HostedBots(
                    functools.partial(self.find_own_bot, run.script.creator_id),
                    functools.partial(self._run_nested, run),
                ),
                depth=run.depth,
                count=self.metrics.bot_call,
            ),
            UrlFetcher(allow_private=settings.fetch_allow_private),
            run.uploads,
            Egress(self.egress_policy, record=run.record_http),
            count=self.metrics.egress,
        )

    # -- the record -----------------------------------------------------------------------

    def _outcome(self, run: _Run, events: PoeEventStream) -> RunOutcome:
        outcome = events.outcome or RunEnd("killed", DISCONNECTED)
        return RunOutcome(
            status="rejected" if run.rejected else outcome.status,
            duration_ms=round((time.monotonic() - run.started_s) * 1000),
            error=describe_end(outcome, self.limits),
            bot_calls=run.budget.used,
            chars_out=events.chars_out,
        )

    async def _mark_finished(self, run: _Run, events: PoeEventStream) -> None:
        """Before ``done``: the run's row leaves ``running``, so that a client that sends its
        next query on ``done`` finds its place free, on any replica (the record follows)."""
        if run.rejected or run.admission is None or not run.admission.done():
            return
        try:
            await self._in_connection(mark_finished, run.id, self._outcome(run, events))
        except Exception:  # the record after the response tries again
            logger.exception("could not mark the run finished", extra={"run_id": str(run.id)})

    def _record(self, run: _Run, events: PoeEventStream) -> None:
        """Record the run in a task of its own, after the response: a cancelled caller
        cannot stop it, and ``close`` (shutdown) waits for it."""
        ended = self._outcome(run, events)  # counted now: /metrics right after the response
        self.metrics.run_ended(ended.status, run.trigger, ended.duration_ms / 1000)
        task = asyncio.get_running_loop().create_task(self._finish(run, events, ended))
        self._recording[run.id] = task
        task.add_done_callback(lambda _: self._recording.pop(run.id, None))

    async def recorded(self, timeout_s: float = RECORD_WAIT_S) -> None:
        """Wait for the records this process is still writing: a run read right after its
        response (on this replica) shows its whole transcript."""
        if self._recording:
            await asyncio.wait(set(self._recording.values()), timeout=timeout_s)

    async def _finish(self, run: _Run, events: PoeEventStream, record: RunOutcome) -> None:
        if run.admission is not None:
            await asyncio.wait({run.admission})  # the row exists, or never will
        if run.rejected:  # learnt just now (the client left during admission)
            record = dataclasses.replace(record, status="rejected")
        status = record.status
        transcript = list(events.transcript)
        try:
            recorded = await retrying(
                lambda: self._in_connection(
                    finish_run, run.row(status), record, transcript, limiter=self._record_limiter
                ),
                what="record run",
                run_id=str(run.id),
            )
            if not recorded:  # a full disk may still take the row without its transcript
                await self._in_connection(
                    finish_run, run.row(status), record, [], limiter=self._record_limiter
                )
        except Exception:  # the response is over; the log keeps what the record lost
            logger.exception("could not record run", extra={"run_id": str(run.id)})
        finally:
            self.leases.release(run.id)  # unrecorded, its lease expires: any replica ends it
        started = events.started_after_s
        log_run(
            logger,
            run_id=str(run.id),
            script=run.script.name,
            creator=run.script.creator_name,
            trigger=run.trigger,
            status=status,
            duration_ms=record.duration_ms,
            bot_calls=record.bot_calls,
            chars_out=record.chars_out,
            sandbox_start_ms=None if started is None else round(started * 1000, 1),
            parent_run_id=None if run.parent_id is None else str(run.parent_id),
        )

    async def _in_thread(self, function: Any, *args: Any) -> Any:
        """``function(session, *args)`` in one transaction, in a worker thread."""

        def call() -> Any:
            with self.db.transaction() as session:
                return function(session, *args)

        return await anyio.to_thread.run_sync(call, limiter=self._db_limiter)

    async def _in_connection(
        self,
        function: Any,
        *args: Any,
        read_only: bool = False,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> Any:
        """``function(connection, *args)`` in one Core transaction, in a worker thread: the
        query path's statements (``read_only``: on SQLite, without the write lock)."""

        def call() -> Any:
            with self.db.reading() if read_only else self.db.connection() as connection:
                return function(connection, *args)

        return await anyio.to_thread.run_sync(call, limiter=limiter or self._db_limiter)
