"""One run, one owner: a run of one script from its admission to its record (SPEC §7).

The path of one query, for a newcomer (``routes/bots.py`` → here → ``sandbox``):

1. ``routes/bots.py`` authorizes the request (``Orchestrator.authorize_bot``: one SELECT,
   ``botscript.py``), validates it and asks the orchestrator for a ``Run``; ``routes/sse.py``
   streams the run's events as ``text/event-stream``.
2. ``Run`` iterates its ``PoeEventStream`` (``events.py``), which sends ``meta`` at once and
   then pulls ``Run._items``: once no other request is being authorized (``arrivals.py``),
   admission (the quota, ``quotas.py``: the ``running`` row is inserted in the transaction
   that counts the creator's), the creator's fair share of the sandbox slots, then the
   sandbox run (``sandbox.TemplatePools.run``: a spare child gets the ``RunStart`` with the
   source and its cached code, and streams chat events back).
3. ``PoeEventStream`` maps chat events to ``text``/``replace_response``/``file`` events
   (coalesced on the leading edge); bot calls, fetches and uploads of the script go through
   ``Run._services`` (``botcalls.py``, ``attachments.py``, ``egress.py``: shared HTTP clients,
   ``outgoing.py``); a hosted script called by name is a nested ``Run`` (``hostedcalls.py``).
4. When the run's end is known, ``Run._mark_finished`` writes it (the quota stops counting
   the run), with the transcript when it is small, and only then is ``done`` sent; after
   the response, ``Orchestrator.track`` has ``Run.record`` write a larger transcript,
   release the lease and log one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.to_thread
import fastapi_poe as fp

from sandbox import Limits, RunEnd, RunStart, SandboxUnavailable, SettingsUpdated, Started
from service.logs import log_run
from service.runs.attachments import (
    CappedUploader,
    OwnFiles,
    PoeUploader,
    StoreUploader,
    UrlFetcher,
)
from service.runs.botcalls import BotRouter, UpstreamBots
from service.runs.botscript import BotScript
from service.runs.conversation import conversation
from service.runs.egress import Egress, HttpRecord
from service.runs.events import DISCONNECTED, PoeEventStream, RunItem, SseEvent, describe_end
from service.runs.filestore import DatabaseAttachmentStore
from service.runs.hostedcalls import NestedRuns
from service.runs.quotas import admit_run
from service.runs.redaction import Redactor
from service.runs.retries import retrying
from service.runs.services import RunCalls, ScriptServices
from service.shutdown import RESTARTING
from service.store.runs import RunOutcome, finish_run, mark_finished, new_run
from service.store.scripts import settings_refetched
from service.store.tables import Run as RunRow
from service.store.tables import utcnow

if TYPE_CHECKING:
    from service.runs.orchestrator import Orchestrator

logger = logging.getLogger(__name__)

Trigger = Literal["poe", "console"]
UNAVAILABLE = "The sandbox is not available right now; try again in a moment."
QUERY_TEXT_CHARS = 2000  # of the query's text kept in its run's record: enough to know it
# A transcript up to this size is written with the run's end, before done: the write costs
# the same as the end's alone, and no second transaction follows the response.
EARLY_TRANSCRIPT_BYTES = 64 * 1024


def query_text(query: fp.QueryRequest) -> str:
    """The last user message of ``query``, cut to QUERY_TEXT_CHARS (its start, and "…")."""
    text = next((m.content for m in reversed(query.query) if m.role == "user"), "")
    return text if len(text) <= QUERY_TEXT_CHARS else text[: QUERY_TEXT_CHARS - 1] + "…"


def quota_message(max_runs: int) -> str:
    return (
        f"This bot's creator already has {max_runs} runs in progress, the most allowed "
        "at once; try again when one has finished."
    )


@dataclass(eq=False)
class Run:
    """One run and its whole life: iterate it once for its Poe events (``SseEvent``);
    its end is written before ``done``, its record after the response. The orchestrator
    (``host``) makes it and lends it the process's resources."""

    host: Orchestrator = field(repr=False)
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
    limits: Limits = field(init=False)  # the operator's, lowered where the script asks
    # Its events (and so its transcript): the HTTP requests of the script join it.
    events: PoeEventStream = field(init=False)

    # A nested run's caller's secrets (and theirs): masked here too, as the caller may
    # pass one in its bot call.
    inherited_secrets: tuple[str, ...] = field(default=(), repr=False)
    # Masks the script's secrets in what the run leaves behind (output, errors, records).
    redactor: Redactor = field(init=False)
    span: Any = field(default=None, init=False, repr=False)  # its trace span (tracing.py)
    # Set when the whole record was written before done (``_mark_finished``).
    recorded_status: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.limits = self.script.limits_within(self.host.limits)
        self.redactor = Redactor([*self.script.environment.values(), *self.inherited_secrets])
        self.events = PoeEventStream(
            self._items(),
            limits=self.limits,
            refetch_settings=self.refetch_settings,
            max_transcript_bytes=self.host.settings.run_max_transcript_mb * 1024 * 1024,
            before_done=self._mark_finished,
        )

    @property
    def run_id(self) -> uuid.UUID:
        return self.id

    def __aiter__(self) -> AsyncGenerator[SseEvent, None]:
        return self._iterate()

    async def _iterate(self) -> AsyncGenerator[SseEvent, None]:
        try:
            async with aclosing(aiter(self.events)) as events:
                async for event in events:
                    yield event
        finally:  # the record is written after the response (its end was, before done)
            self.host.track(self)

    def record_http(self, record: HttpRecord) -> None:
        entry = dataclasses.replace(record, path=self.redactor.text(record.path)).entry()
        self.events.note("http", entry)

    def row(self, status: str = "running") -> RunRow:
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
            query_text=self.redactor.text(query_text(self.query)),
            status=status,
        )

    # -- its life ------------------------------------------------------------------------

    async def _items(self) -> AsyncIterator[RunItem]:
        """What the sandbox does for this run, after admission (``PoeEventStream``'s source)."""
        tracing = self.host.tracing
        self.span = tracing.start(
            "run",
            **{
                "scriptbots.run.id": str(self.id),
                "scriptbots.script": self.script.name,
                "scriptbots.run.trigger": self.trigger,
                "scriptbots.run.depth": self.depth,
            },
        )
        if self.depth == 0:  # a burst's first events go before our work (arrivals.py)
            await self.host.arrivals.settled()
        # A task of its own: a client that leaves meanwhile cannot lose track of the row.
        with tracing.current(self.span):  # its database work is the run's
            self.admission = asyncio.get_running_loop().create_task(
                anyio.to_thread.run_sync(self._admit, limiter=self.host._db_limiter)
            )
        if not await asyncio.shield(self.admission):
            yield RunEnd("error", quota_message(self.host.settings.creator_max_concurrent_runs))
            return
        self.host.leases.hold(self.id)
        self.host.metrics.run_started()
        slot = False
        starting = None  # the sandbox-start span, until the script starts
        try:
            await self.host._pool_ready()
            # Nested runs go within their query's slot: waiting for one could deadlock.
            if self.depth == 0:
                creator = str(self.script.creator_id)
                if not await self.host.slots.acquire(creator, self.host.shutdown.stop):
                    yield RunEnd("killed", RESTARTING)
                    return
                slot = True
            handed_s = time.monotonic()
            self.host.metrics.queue_waited(self.script.creator_name, handed_s - self.started_s)
            start = RunStart(
                source=self.script.source,
                bot_name=self.script.name,
                conversation=conversation(self.query, self.script.settings),
                limits=self.limits,
                users=[user.model_dump(mode="json") for user in self.query.users],
                privacy_shield="half" if self.script.privacy_shield == "half" else "full",
                environment=self.script.environment,
            )
            starting = tracing.start("sandbox start", self.span)
            items_of = self.host.pool.run(start, self._services(), self.host.shutdown.stop)
            async with aclosing(items_of) as items:
                async for item in items:
                    if isinstance(item, Started):
                        self.host.metrics.sandbox_started(time.monotonic() - handed_s)
                        tracing.end(starting)
                        starting = None
                    elif isinstance(item, SettingsUpdated):
                        continue  # settings runs only: the host refuses one in a query run
                    for shown in self.redactor.apply(item):
                        yield shown
        except SandboxUnavailable as exc:
            logger.warning("sandbox unavailable", extra={"run_id": str(self.id), "error": str(exc)})
            yield RunEnd("error", UNAVAILABLE)
        finally:
            tracing.end(starting)  # the run ended before its script started
            if slot:
                self.host.slots.release()
            self.host.metrics.run_stopped()

    def _admit(self) -> bool:
        with self.host.db.connection() as session:
            if self.refetch_settings:  # the meta said so already: once is enough
                settings_refetched(session, self.script.id)
            admitted = admit_run(
                session,
                self.row(),
                creator_id=self.script.creator_id,
                max_concurrent=self.host.settings.creator_max_concurrent_runs,
                run_timeout_s=self.host.settings.run_timeout_s,
                lease_until=self.host.leases.expiry(),
            )
        self.rejected = not admitted
        return admitted

    def _services(self) -> ScriptServices:
        settings = self.host.settings
        upstream = UpstreamBots(
            str(settings.poe_api_base),
            access_key=self.access_key,
            user_id=self.query.user_id,
            conversation_id=self.query.conversation_id,
            message_id=self.query.message_id,
            budget=self.budget,
            session=self.host.outgoing.bots,
        )
        if self.uploads is None:
            if self.poe_uploads and self.access_key:
                inner: PoeUploader | StoreUploader = PoeUploader(
                    self.access_key,
                    base_url=str(settings.poe_file_upload_base),
                    session=self.host.outgoing.uploads,
                )
            else:  # kept with the query's run, whose response the files are part of
                store = DatabaseAttachmentStore(
                    self.host.db,
                    self.id,
                    creator_id=self.script.creator_id,
                    max_creator_bytes=settings.creator_max_files_mb * 1024 * 1024,
                )
                inner = StoreUploader(store, settings.base_url)
            self.uploads = CappedUploader(inner)
        return ScriptServices(
            BotRouter(
                upstream,
                NestedRuns(
                    functools.partial(self.host.find_own_bot, self.script.creator_id),
                    functools.partial(self.host.nested_run, self),
                ),
                depth=self.depth,
                count=self.host.metrics.bot_call,
                trace=self._bot_call_span,
            ),
            UrlFetcher(
                allow_private=settings.fetch_allow_private,
                own_files=OwnFiles(
                    settings.base_url.rstrip("/") + "/files/",
                    DatabaseAttachmentStore(self.host.db, None, creator_id=self.script.creator_id),
                ),
            ),
            self.uploads,
            Egress(self.host.egress_policy, record=self.record_http),
            count=self.host.metrics.egress,
        )

    @contextlib.contextmanager
    def _bot_call_span(self, kind: str, bot_name: str) -> Iterator[dict[str, str]]:
        """A span around one bot call of the script; the called bot gets its traceparent."""
        tracing = self.host.tracing
        span = tracing.start(
            f"bot call {bot_name}",
            self.span,
            kind="client",
            **{"scriptbots.bot_call.bot": bot_name, "scriptbots.bot_call.kind": kind},
        )
        try:
            yield tracing.headers(span) if span is not None else {}
        except (GeneratorExit, asyncio.CancelledError):
            tracing.end(span)  # the script stopped reading: not the bot's failure
            raise
        except BaseException as exc:
            tracing.end(span, exc)
            raise
        else:
            tracing.end(span)

    # -- its end and record ---------------------------------------------------------------

    def outcome(self) -> RunOutcome:
        """How the run ended, as recorded (so far: the stream may still be going)."""
        outcome = self.events.outcome or RunEnd("killed", DISCONNECTED)
        return RunOutcome(
            status="rejected" if self.rejected else outcome.status,
            duration_ms=round((time.monotonic() - self.started_s) * 1000),
            error=describe_end(outcome, self.limits),
            bot_calls=self.budget.used,
            chars_out=self.events.chars_out,
        )

    async def _mark_finished(self) -> None:
        """Before ``done``: the run's row leaves ``running``, so that a client that sends its
        next query on ``done`` finds its place free, on any replica. A small transcript is
        written with it, in the same transaction (one write per run instead of two, issue
        15); a larger one follows after the response (``record``)."""
        if self.rejected or self.admission is None or not self.admission.done():
            return
        outcome = self.outcome()
        try:
            if self.events.transcript_bytes <= EARLY_TRANSCRIPT_BYTES:
                transcript = list(self.events.transcript)
                await self.host._in_connection(
                    finish_run, self.row(outcome.status), outcome, transcript
                )
                self.recorded_status = outcome.status
            else:
                await self.host._in_connection(mark_finished, self.id, outcome)
        except Exception:  # the record after the response tries again
            logger.exception("could not mark the run finished", extra={"run_id": str(self.id)})

    async def record(self, record: RunOutcome) -> None:
        """Write the run's record (after its response), release its lease, log it."""
        if self.admission is not None:
            await asyncio.wait({self.admission})  # the row exists, or never will
        if self.rejected:  # learnt just now (the client left during admission)
            record = dataclasses.replace(record, status="rejected")
        status = record.status
        try:
            if status != self.recorded_status:  # else written before done, transcript and all
                await self._write_record(record, list(self.events.transcript))
        except Exception:  # the response is over; the log keeps what the record lost
            logger.exception("could not record run", extra={"run_id": str(self.id)})
        finally:
            self.host.leases.release(self.id)  # unrecorded, its lease expires: any replica ends it
        started = self.events.started_after_s
        log_run(
            logger,
            run_id=str(self.id),
            script=self.script.name,
            creator=self.script.creator_name,
            trigger=self.trigger,
            status=status,
            duration_ms=record.duration_ms,
            bot_calls=record.bot_calls,
            chars_out=record.chars_out,
            sandbox_start_ms=None if started is None else round(started * 1000, 1),
            parent_run_id=None if self.parent_id is None else str(self.parent_id),
        )
        self.host.tracing.end(
            self.span,
            **{"scriptbots.run.status": status, "scriptbots.run.bot_calls": record.bot_calls},
        )

    async def _write_record(self, record: RunOutcome, transcript: list[dict[str, Any]]) -> None:
        row, limiter = self.row(record.status), self.host._record_limiter
        recorded = await retrying(
            lambda: self.host._in_connection(finish_run, row, record, transcript, limiter=limiter),
            what="record run",
            run_id=str(self.id),
        )
        if not recorded:  # a full disk may still take the row without its transcript
            await self.host._in_connection(finish_run, row, record, [], limiter=limiter)
