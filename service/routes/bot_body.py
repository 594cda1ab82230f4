"""A /bots request body, read into its fastapi_poe model off the event loop (issue 12).

JSON parsing, the unstorable-value walk and pydantic validation of a body of megabytes take
whole seconds of one core; on the event loop they froze every other request meanwhile (a
16 MB body held /healthz 17.9 s). Here all of it runs in a worker thread, a few bodies at a
time (a body of at most ``INLINE_BYTES``, a query of a short conversation, is parsed on the
loop: under a millisecond at worst, less than the hop to a thread and back, issue 15), and
each step is bounded before the next starts:

- the size, by ``BodyLimitMiddleware`` (``SCRIPTBOTS_BOT_MAX_BODY_MB``) before reading;
- the cyclic garbage collector is paused meanwhile: its passes over the growing tree cost
  more than the parse itself, and ``json.loads``, being C, keeps the interpreter lock
  throughout; paused, it takes at most ~20 ms per MB;
- the walk is plain Python (the loop gets the interpreter lock back every few ms) and stops
  at ``MAX_BODY_VALUES`` values, and queries stop at ``MAX_QUERY_MESSAGES`` messages, so
  that pydantic, which also keeps the lock, is only ever given a bounded amount;
- what goes back to the loop holds nothing of the body's size: the parsed tree is freed in
  the thread (an error keeps no traceback into it, at most ``MAX_ERRORS`` validation
  errors, without their input).

Bodies that break a rule answer 4xx with a JSON ``detail``: 400 (not JSON, unstorable),
413 (too many messages or values), 422 (fields that do not validate).
"""

from __future__ import annotations

import gc
import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import fastapi_poe as fp
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from service.routes.schemas import MAX_QUERY_MESSAGES
from service.routes.unstorable import find_unstorable

ID_MAX = 255  # message, user and conversation ids: String(255) columns
MAX_BODY_DEPTH = 64  # far below pydantic's serialization limit; Poe nests a few levels
# A real query of MAX_QUERY_MESSAGES messages (each some 30 values and keys with its
# attachments and metadata) holds tens of thousands; pydantic validates this many in ~0.5 s.
MAX_BODY_VALUES = 200_000
MAX_ERRORS = 20
PARSING_AT_ONCE = 2  # the parse holds the interpreter lock: more at once only queue for it
INLINE_BYTES = 4 * 1024  # at worst (thousands of tiny values) ~0.8 ms on the loop

MODELS: dict[str, type[BaseModel]] = {
    "query": fp.QueryRequest,
    "settings": fp.SettingsRequest,
    "report_feedback": fp.ReportFeedbackRequest,
    "report_reaction": fp.ReportReactionRequest,
    "report_error": fp.ReportErrorRequest,
}


@dataclass(frozen=True)
class BotBody:
    """The request's ``type`` and its validated model (None for an unknown type: 501)."""

    kind: str
    model: BaseModel | None


class BotBodies:
    """Parses /bots bodies, those over ``INLINE_BYTES`` in worker threads, ``PARSING_AT_ONCE``
    at a time; one per app (``app.state.bot_bodies``), made in the lifespan."""

    def __init__(self) -> None:
        self._limiter = anyio.CapacityLimiter(PARSING_AT_ONCE)

    async def read(self, request: Request) -> BotBody:
        raw = await request.body()
        if len(raw) <= INLINE_BYTES:
            return parse_bot_body(raw)
        return await anyio.to_thread.run_sync(parse_bot_body, raw, limiter=self._limiter)


def parse_bot_body(raw: bytes) -> BotBody:
    """The body as its fastapi_poe model; HTTPException (4xx) or RequestValidationError.

    All of it with the collector paused, and the parsed tree freed before it resumes: a
    collection over millions of fresh objects would otherwise follow, in whichever thread
    allocates next (the event loop's, as like as not). An error goes out without the
    traceback whose frames hold the tree, nor pydantic's error holding the refused input."""
    with gc_paused():
        try:
            return _parse(raw)
        except (HTTPException, RequestValidationError) as exc:
            exc.__context__ = None
            error = exc.with_traceback(None)
    raise error


def _parse(raw: bytes) -> BotBody:
    body = _json_object(raw)
    kind = body.get("type")
    if not isinstance(kind, str):
        raise HTTPException(400, "The request has no 'type'.")
    model = MODELS.get(kind)
    if model is None:
        return BotBody(kind, None)
    if kind == "query":
        messages = body.get("query")
        if isinstance(messages, list) and len(messages) > MAX_QUERY_MESSAGES:
            raise HTTPException(
                413,
                f"The query holds {len(messages)} messages; a bot here takes at most "
                f"{MAX_QUERY_MESSAGES}.",
            )
    _check_storable(body)
    validated = _validated(model, body)
    if isinstance(validated, fp.QueryRequest):
        check_ids(
            message_id=validated.message_id,
            user_id=validated.user_id,
            conversation_id=validated.conversation_id,
        )
    return BotBody(kind, validated)


def check_ids(**ids: object) -> None:
    """Poe's ids are stored in columns of ID_MAX characters (PostgreSQL refuses NUL in text):
    one that cannot be stored is refused here rather than failing the write with a 500."""
    for field, value in ids.items():
        if isinstance(value, str) and (len(value) > ID_MAX or "\x00" in value):
            raise HTTPException(400, f"'{field}' must be at most {ID_MAX} characters, without NUL.")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range")
    return number


def _json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object (no NaN or Infinity, which cannot be sent back as JSON)."""
    try:
        body = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise HTTPException(400, "The body is not JSON.") from None
    except ValueError as exc:  # NaN, Infinity, 1e400, an int of over 4300 digits
        raise HTTPException(400, f"The body is not JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "The body is not a JSON object.")
    return body


def _check_storable(body: dict[str, Any]) -> None:
    """No lone surrogates, not nested absurdly deep, not absurdly many parts."""
    problem = find_unstorable(body, MAX_BODY_DEPTH, MAX_BODY_VALUES)
    if problem == "depth":
        raise HTTPException(400, f"The body is nested more than {MAX_BODY_DEPTH} levels deep.")
    if problem == "surrogate":
        raise HTTPException(400, "The body's text must be valid Unicode (no lone surrogates).")
    if problem == "values":
        raise HTTPException(413, f"The body holds more than {MAX_BODY_VALUES} JSON values.")


def _validated(model: type[BaseModel], body: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = [
            {"loc": ("body", *e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)[:MAX_ERRORS]
        ]
        raise RequestValidationError(errors) from None


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic collector off while the block runs, in any number of threads at once
    (on again when the last one leaves, if it was on before the first came)."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()
