"""The contract between the sandbox host and the child process that runs one script.

Every message is a frozen dataclass below; nothing else crosses the socketpair. On the
wire a message is a frame: 4-byte big-endian length, the 4-byte length of its JSON part, a
UTF-8 JSON object ``{"t": "<ClassName>", <field>: <value>, ...}``, then the contents of its
``bytes`` fields, each referred to in the JSON as ``[offset, length]`` past the JSON part;
nested dataclasses are objects without ``"t"``. The child is untrusted, so the host decodes
with :func:`decode` only (known types, known fields, checked types) — never pickle or eval.

One run, in order::

    host  -> child  RunStart                      once, first: what to run and its limits
    child -> host   Started                       isolation applied; the script starts now
    child -> host   MessageAdded, TextAppended,   chat events, in the total order the script
                    TextReplaced, AttachmentAdded, made them (one lock in the child)
                    MessageFinished, MessageFailed
    child -> host   SettingsUpdated               settings runs only: poe.update_settings
    child -> host   BotCallStart(call_id)         host answers BotCallPart* then BotCallEnd
    child -> host   BotCallCancel(call_id)        the script stopped reading; host ends the call
    child -> host   FetchRequest(request_id)      host answers FetchChunk* (the body, in
                                                  TRANSFER_CHUNK_BYTES pieces), FetchResult
    child -> host   UploadRequest(request_id)     its size, then UploadChunk* carrying it;
                                                  host answers UploadResult(request_id)
    child -> host   HttpRequest(request_id)       half shield: host answers HttpHead, then
                                                  HttpChunk* (each after one HttpRead of
                                                  the child, HTTP_WINDOW ahead), HttpEnd
    child -> host   HttpCancel(request_id)        the script closed the response early
    child -> host   RunEnd                        last message; then the child exits

Bot calls, fetches, uploads and HTTP requests carry ids, so that the calls of
``poe.parallel`` threads are in flight at once over the one channel. The host never trusts
counts the child reports: it enforces the bot-call and request budgets and the output cap.

Chat events describe the script's *response*: the ordered list of messages echoed to the
chat UI (messages of non-quiet chats, ``poe.default_chat`` first of all). ``msg_id`` numbers
them from 0 in the order they were added; the host joins their texts with a blank line.
"""

from __future__ import annotations

import json
import struct
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

from sandbox.codec import ProtocolError as ProtocolError  # a bad frame: every caller's name
from sandbox.codec import from_json, to_json

HEADER = struct.Struct(">I")
_JSON_LENGTH = struct.Struct(">I")  # inside the frame: the JSON part, before the bytes
MAX_FRAME_BYTES = 72 * 1024 * 1024  # one 50 MB attachment (SPEC §8) and headroom

Role = Literal["user", "bot", "system", "tool"]
RunStatus = Literal["ok", "error", "timeout", "killed"]
#: ``query``: a query, ``__name__ == "__main__"``. ``settings``: settings extraction when a
#: source is saved: the code before ``if __name__ == "__main__":`` runs, with no query, no
#: bot calls, fetches or output, and ``poe.update_settings`` sends SettingsUpdated.
RunMode = Literal["query", "settings"]
#: ``full``: no HTTP of the script's own (its requests fail at once, naming the header that
#: would allow them); ``half``: ``# poe: privacy_shield=half``, HTTP through the host.
PrivacyShield = Literal["full", "half"]
#: Why an HTTP request failed, so that the child raises its library's matching exception.
HttpFailure = Literal["refused", "connect", "timeout", "too_large", "limit", "failed"]
HTTP_CHUNK_BYTES = 64 * 1024  # the most one HttpChunk carries
HTTP_WINDOW = 8  # HttpChunks the host sends ahead of the script's reading
# The most one FetchChunk or UploadChunk carries: attachments cross the channel in pieces,
# so that the host never holds one whole (issue 11).
TRANSFER_CHUNK_BYTES = 256 * 1024
LimitName = Literal["time", "cpu", "memory", "output", "bot_calls", "threads", "recursion"]
_LIMIT_NAMES = frozenset(typing.get_args(LimitName))
_HTTP_FAILURES = frozenset(typing.get_args(HttpFailure))


def is_limit_name(name: object) -> TypeGuard[LimitName]:
    """Whether ``name`` (an exception's, say) may stand in a message's ``limit`` field."""
    return name in _LIMIT_NAMES


def is_http_failure(name: object) -> TypeGuard[HttpFailure]:
    """Whether ``name`` may stand in HttpEnd's ``failure`` field."""
    return name in _HTTP_FAILURES


# -- values -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """What one run may use (SPEC §2). Given to the sandbox instead of any settings object."""

    timeout_s: float = 600.0  # Poe's response deadline
    cpu_s: int = 30
    memory_mb: int = 1024
    max_output_chars: int = 100_000
    max_bot_calls: int = 10
    max_threads: int = 32
    disk_mb: int = 256  # the scratch directory (a tmpfs: counted as memory, on top of it)


@dataclass(frozen=True)
class AttachmentInfo:
    """An attachment that lives at a URL: uploaded by the host, or one that came in a query."""

    url: str
    content_type: str
    name: str
    inline_ref: str | None = None


@dataclass(frozen=True)
class BotCallRequest:
    """One call to another bot. Messages and tool fields are fastapi_poe models dumped to JSON."""

    bot_name: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_results: list[dict[str, Any]] | None = None
    temperature: float | None = None
    adopt_current_bot_name: bool = False


# -- host -> child ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunStart:
    """What to run. ``conversation`` is the query's messages (``fp.ProtocolMessage`` dumps),
    oldest first; empty when the run was started without a query (``poe.query`` raises).
    ``users`` are the query's users (``fp.User`` dumps), for ``poe.default_chat.user_members``.
    ``environment`` holds the script's secrets; the host redacts their values from the run's
    output and errors."""

    source: str
    bot_name: str
    conversation: list[dict[str, Any]] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)
    users: list[dict[str, Any]] = field(default_factory=list)
    mode: RunMode = "query"
    # ``source`` compiled by the host's restricted compiler (``compiled.py``), marshalled:
    # the child runs it instead of compiling the source again. Query runs only.
    code: bytes | None = None
    privacy_shield: PrivacyShield = "full"
    #: The script's secrets: the run's ``os.environ`` (and nowhere else in the child).
    environment: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class BotCallPart:
    """One streamed ``fp.PartialResponse`` of a bot call, dumped to JSON."""

    call_id: int
    part: dict[str, Any]


@dataclass(frozen=True)
class BotCallEnd:
    """The call is over. ``error`` set: it failed with that message; ``limit`` set: refused
    because that limit was reached (the child raises the matching runtime exception)."""

    call_id: int
    error: str | None = None
    limit: LimitName | None = None


@dataclass(frozen=True)
class FetchChunk:
    """The next piece of a fetched attachment's body."""

    request_id: int
    data: bytes


@dataclass(frozen=True)
class FetchResult:
    """The fetch is over: the body was every FetchChunk before (``error`` None), or it
    failed with that sentence."""

    request_id: int
    error: str | None = None


@dataclass(frozen=True)
class UploadResult:
    request_id: int
    attachment: AttachmentInfo | None = None
    error: str | None = None


@dataclass(frozen=True)
class HttpHead:
    """The status line and headers of an HTTP response. The body follows decoded (no
    Content-Encoding), so its framing headers are left out."""

    request_id: int
    status: int
    reason: str
    headers: list[list[str]]
    http_version: str = "HTTP/1.1"


@dataclass(frozen=True)
class HttpChunk:
    request_id: int
    data: bytes


@dataclass(frozen=True)
class HttpEnd:
    """The response is over (``error`` None), or the request failed with that sentence."""

    request_id: int
    error: str | None = None
    failure: HttpFailure | None = None


# -- child -> host ----------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    """Isolation is in place and the script's code is about to run (start-up latency mark)."""


@dataclass(frozen=True)
class MessageAdded:
    """A message joined the response, with whatever it already holds."""

    msg_id: int
    role: Role
    text: str
    sender_name: str | None = None
    content_type: str = "text/markdown"
    attachments: list[AttachmentInfo] = field(default_factory=list)


@dataclass(frozen=True)
class TextAppended:
    msg_id: int
    text: str


@dataclass(frozen=True)
class TextReplaced:
    """The whole text of the message is now ``text`` (``Message.overwrite``)."""

    msg_id: int
    text: str


@dataclass(frozen=True)
class AttachmentAdded:
    msg_id: int
    attachment: AttachmentInfo


@dataclass(frozen=True)
class MessageFinished:
    msg_id: int


@dataclass(frozen=True)
class MessageFailed:
    """``Message.fail(error)``: the message is finished, and failed with that text."""

    msg_id: int
    error: str


@dataclass(frozen=True)
class SettingsUpdated:
    """``poe.update_settings(...)`` in a settings run: ``fp.SettingsResponse`` fields set."""

    settings: dict[str, Any]


@dataclass(frozen=True)
class BotCallStart:
    call_id: int
    request: BotCallRequest


@dataclass(frozen=True)
class BotCallCancel:
    call_id: int


@dataclass(frozen=True)
class FetchRequest:
    """Download an attachment URL for ``Attachment.get_contents`` (the host applies SPEC §8)."""

    request_id: int
    url: str


@dataclass(frozen=True)
class UploadRequest:
    """Store an attachment of ``size`` bytes, which follow as UploadChunks; the host
    answers with where it now lives."""

    request_id: int
    name: str
    size: int
    content_type: str | None = None
    is_inline: bool = False


@dataclass(frozen=True)
class UploadChunk:
    request_id: int
    data: bytes


@dataclass(frozen=True)
class HttpRequest:
    """One request of a half-shield script's HTTP client (requests, httpx, urllib, aiohttp):
    the host checks and performs it (SPEC §8's fetch rules, the run's request budget) and
    never follows redirects itself, so that each hop is a request of its own."""

    request_id: int
    method: str
    url: str
    headers: list[list[str]]
    body: bytes = b""
    timeout_s: float | None = None


@dataclass(frozen=True)
class HttpRead:
    """The script consumed one HttpChunk: the host may send one more."""

    request_id: int


@dataclass(frozen=True)
class HttpCancel:
    request_id: int


@dataclass(frozen=True)
class RunEnd:
    """How the run ended. ``error`` is the text the user sees (a ``poe.BotError`` message, or
    the exception type, message and the script's traceback); ``limit`` names a limit reached.
    The child sends ``ok`` or ``error``; the host builds a RunEnd itself when it kills the
    child (``timeout``, with limit ``time``) or the child dies without sending one
    (``killed``, with the limit when the cause is known, e.g. ``cpu`` or ``memory``).
    ``line``: the script's line where an uncaught exception was raised (the innermost
    frame of ``<script>``), so that a settings run's error can be shown at its line."""

    status: RunStatus
    error: str | None = None
    limit: LimitName | None = None
    line: int | None = None


ChatEvent = (
    MessageAdded | TextAppended | TextReplaced | AttachmentAdded | MessageFinished | MessageFailed
)
HostMessage = (
    RunStart
    | BotCallPart
    | BotCallEnd
    | FetchChunk
    | FetchResult
    | UploadResult
    | HttpHead
    | HttpChunk
    | HttpEnd
)
ChildMessage = (
    Started
    | ChatEvent
    | SettingsUpdated
    | BotCallStart
    | BotCallCancel
    | FetchRequest
    | UploadRequest
    | UploadChunk
    | HttpRequest
    | HttpRead
    | HttpCancel
    | RunEnd
)
Message = HostMessage | ChildMessage

_MESSAGE_TYPES: dict[str, type] = {
    cls.__name__: cls for cls in typing.get_args(HostMessage) + typing.get_args(ChildMessage)
}


# -- codec ------------------------------------------------------------------------------


def encode(message: Message) -> bytes:
    """One frame: length header, then the JSON part's length, the JSON part, and the bytes
    fields' contents after it (``[offset, length]`` in the JSON): a compiled script or an
    attachment is copied, not base64'd inside JSON and parsed back (issue 15)."""
    blobs: list[bytes] = []
    body = {"t": type(message).__name__, **to_json(message, blobs)}
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    size = _JSON_LENGTH.size + len(data) + sum(map(len, blobs))
    if size > MAX_FRAME_BYTES:
        raise ProtocolError(f"message of {size} bytes exceeds the frame limit")
    return b"".join((HEADER.pack(size), _JSON_LENGTH.pack(len(data)), data, *blobs))


def decode(body: bytes) -> Message:
    """The message in one frame body (without its header); ProtocolError if it is not one."""
    if len(body) < _JSON_LENGTH.size:
        raise ProtocolError("frame is too short")
    (json_length,) = _JSON_LENGTH.unpack_from(body)
    end = _JSON_LENGTH.size + json_length
    if end > len(body):
        raise ProtocolError("frame's JSON part is longer than the frame")
    try:
        data = json.loads(body[_JSON_LENGTH.size : end])
    except (ValueError, RecursionError) as exc:  # also ints past sys.get_int_max_str_digits()
        raise ProtocolError("frame is not JSON within limits") from exc
    if not isinstance(data, dict) or not isinstance(data.get("t"), str):
        raise ProtocolError("frame is not a tagged object")
    cls = _MESSAGE_TYPES.get(data.pop("t"))
    if cls is None:
        raise ProtocolError("unknown message type")
    return from_json(cls, data, memoryview(body)[end:])
