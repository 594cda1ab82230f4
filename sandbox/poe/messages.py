"""``poe.Sender`` and ``poe.Message``: chat messages, mutable only while in progress.

A message added to a non-quiet chat is *echoed*: it gets a msg_id in the response, and
every later change (write, overwrite, attachment, finish) is emitted for that id, whoever
makes it. All changes happen under the run's one lock, so 21 writers lose nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import fastapi_poe as fp

from sandbox.poe.attachments import Attachment

if TYPE_CHECKING:
    from sandbox.poe.runtime import Runtime

ROLES = ("user", "bot", "system", "tool")
CONTENT_TYPES = ("text/markdown", "text/plain")


@dataclass(frozen=True, slots=True)
class Sender:
    """Who wrote a message: a role (user, bot, system, tool), an optional id and name."""

    role: str
    id: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"Sender role must be one of {', '.join(ROLES)}, not {self.role!r}")
        for field in ("id", "name"):
            if not isinstance(getattr(self, field), str | None):
                raise TypeError(f"Sender {field} must be a str or None")


def as_sender(sender: object) -> Sender:
    if isinstance(sender, Sender):
        return sender
    if isinstance(sender, str):
        return Sender(role=sender)
    raise TypeError("sender must be a poe.Sender or a role string")


def is_visible(part: fp.PartialResponse) -> bool:
    """Whether a streamed part changes a message (suggested replies and meta do not)."""
    if isinstance(part, fp.MetaResponse | fp.ErrorResponse) or part.is_suggested_reply:
        return False
    return bool(part.text or part.is_replace_response or part.attachment)


class Message:
    """A chat message; pass ``in_progress=True`` to write to it, then ``finish()`` it."""

    __slots__ = (
        "_attachments",
        "_content_type",
        "_echo_ids",
        "_in_progress",
        "_is_tool_call",
        "_parameters",
        "_sender",
        "_text",
    )
    _rt: ClassVar[Runtime]

    def __init__(
        self,
        text: str = "",
        sender: Sender | str = "user",
        content_type: str = "text/markdown",
        attachments: Iterable[Attachment] | None = None,
        in_progress: bool = False,
        is_tool_call: bool = False,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(text, str):
            raise TypeError("Message text must be a str")
        if content_type not in CONTENT_TYPES:
            raise ValueError(f"content_type must be one of {', '.join(CONTENT_TYPES)}")
        if parameters is not None and not isinstance(parameters, dict):
            raise TypeError("Message parameters must be a dict")
        self._text = text
        self._sender = as_sender(sender)
        self._content_type = content_type
        self._attachments = _attachment_list(attachments or ())
        self._in_progress = bool(in_progress)
        self._is_tool_call = bool(is_tool_call)
        self._parameters = dict(parameters or {})
        self._echo_ids: list[int] = []  # msg_ids of this message in the response

    # -- properties ---------------------------------------------------------------------

    @property
    def text(self) -> str:
        return self._text

    @property
    def sender(self) -> Sender:
        return self._sender

    @property
    def role(self) -> str:
        return self._sender.role

    @property
    def content_type(self) -> str:
        return self._content_type

    @property
    def attachments(self) -> tuple[Attachment, ...]:
        return tuple(self._attachments)

    @property
    def in_progress(self) -> bool:
        return self._in_progress

    @property
    def is_tool_call(self) -> bool:
        return self._is_tool_call

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self._parameters)  # a copy: a finished message stays as it was

    # -- changes while in progress ------------------------------------------------------

    def write(self, text: str) -> None:
        """Append ``text``."""
        _require_str(text)
        with self._rt.lock:
            self._require_open("write to")
            self._rt.response.append(self._echo_ids, text)
            self._text += text

    def overwrite(self, text: str) -> None:
        """Replace the whole text with ``text``."""
        _require_str(text)
        with self._rt.lock:
            self._require_open("overwrite")
            if self._echo_ids:
                self._rt.response.replace(self._echo_ids, text)
            self._text = text

    def add_attachment(self, attachment: Attachment, add_inline_ref: bool = True) -> None:
        """Attach; an inline attachment of a Markdown message gets ``![name][ref]`` appended."""
        if not isinstance(attachment, Attachment):
            raise TypeError("add_attachment expects a poe.Attachment")
        if self._echo_ids and self._in_progress:
            attachment._store()  # upload before taking the lock that every writer needs
        with self._rt.lock:
            self._require_open("add an attachment to")
            ref = ""
            if add_inline_ref and attachment.is_inline and self._content_type == CONTENT_TYPES[0]:
                newline = "\n" if self._text and not self._text.endswith("\n") else ""
                ref = f"{newline}![{attachment.name}][{attachment.inline_ref}]"
            if self._echo_ids:
                response = self._rt.response
                response.check(len(ref) * len(self._echo_ids))
                response.attach(self._echo_ids, attachment._info())
                response.append(self._echo_ids, ref)
            self._attachments.append(attachment)
            self._text += ref

    def update(self, part: fp.PartialResponse) -> None:
        """Apply one streamed part: write, overwrite and/or add its attachment."""
        if not isinstance(part, fp.PartialResponse):
            raise TypeError("update expects an fp.PartialResponse")
        with self._rt.lock:
            self._require_open("update")
            if not is_visible(part):
                return
            if part.is_replace_response:
                self.overwrite(part.text)
            elif part.text:
                self.write(part.text)
            if part.attachment is not None:
                attachment = self._rt.Attachment.from_protocol_attachment(part.attachment)
                self.add_attachment(attachment, add_inline_ref=False)

    def attach_file(
        self,
        name: str,
        contents: bytes,
        content_type: str | None = None,
        is_inline: bool = False,
    ) -> Attachment:
        """Create an attachment from ``contents`` and add it; returns the attachment."""
        self._require_open("attach a file to")
        attachment = self._rt.Attachment(
            name=name, contents=contents, content_type=content_type, is_inline=is_inline
        )
        self.add_attachment(attachment)
        return attachment

    def finish(self) -> None:
        """No more changes from now on."""
        with self._rt.lock:
            self._require_open("finish")
            self._in_progress = False
            self._rt.response.finish(self._echo_ids)

    def fail(self, error_text: str) -> None:
        """Finish this message as failed: the user sees ``error_text`` as the response's error."""
        _require_str(error_text)
        with self._rt.lock:
            self._require_open("fail")
            self._in_progress = False
            self._rt.response.fail(self._echo_ids, error_text)

    # -- copies and conversions ---------------------------------------------------------

    def copy(
        self,
        text: str | None = None,
        sender: Sender | str | None = None,
        attachments: Iterable[Attachment] | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> Message:
        """A finished copy, with any of these fields replaced."""
        if self._in_progress:
            raise ValueError("Cannot copy a message in progress; finish() it first")
        return self._derive(
            text=self._text if text is None else text,
            sender=self._sender if sender is None else sender,
            attachments=self._attachments if attachments is None else attachments,
            parameters=self._parameters if parameters is None else parameters,
        )

    @classmethod
    def from_protocol_message(cls, m: fp.ProtocolMessage) -> Message:
        if not isinstance(m, fp.ProtocolMessage):
            raise TypeError("from_protocol_message expects an fp.ProtocolMessage")
        sender_id = (m.sender.id if m.sender else None) or m.sender_id
        return cls(
            text=m.content,
            sender=Sender(role=m.role, id=sender_id, name=m.sender.name if m.sender else None),
            content_type=m.content_type,
            attachments=[cls._rt.Attachment.from_protocol_attachment(a) for a in m.attachments],
            is_tool_call=m.message_type == "function_call",
            parameters=m.parameters,
        )

    def to_protocol_message(self) -> fp.ProtocolMessage:
        sender = self._sender
        return fp.ProtocolMessage(
            role=sender.role,  # validated by Sender
            sender=fp.Sender(id=sender.id, name=sender.name) if sender.id or sender.name else None,
            content=self._text,
            content_type=self._content_type,
            parameters=dict(self._parameters),
            attachments=[a.to_protocol_attachment() for a in self._attachments],
            message_type="function_call" if self._is_tool_call else None,
        )

    def _derive(self, **changes: Any) -> Message:
        fields: dict[str, Any] = {
            "text": self._text,
            "sender": self._sender,
            "content_type": self._content_type,
            "attachments": self._attachments,
            "is_tool_call": self._is_tool_call,
            "parameters": self._parameters,
        }
        fields.update(changes)
        return self._rt.Message(**fields)

    def _require_open(self, action: str) -> None:
        if not self._in_progress:
            raise ValueError(
                f"Cannot {action} a message that is not in progress "
                "(create it with in_progress=True, and before finish())"
            )

    # -- operators ----------------------------------------------------------------------

    def __add__(self, other: object) -> Message:
        """Concatenate text; the right message's fields win, parameters merge."""
        if isinstance(other, str):
            return self._derive(text=self._text + other)
        if isinstance(other, Message):
            return self._derive(
                text=self._text + other._text,
                sender=other._sender,
                content_type=other._content_type,
                attachments=[*self._attachments, *other._attachments],
                is_tool_call=other._is_tool_call,
                parameters={**self._parameters, **other._parameters},
            )
        if isinstance(other, Attachment):
            return self._derive(attachments=[*self._attachments, other])
        if isinstance(other, list | tuple) and all(isinstance(a, Attachment) for a in other):
            return self._derive(attachments=[*self._attachments, *other])
        return NotImplemented

    def __radd__(self, other: object) -> Message:
        if isinstance(other, str):
            return self._derive(text=other + self._text)
        if isinstance(other, list | tuple) and all(isinstance(a, Attachment) for a in other):
            return self._derive(attachments=[*other, *self._attachments])
        return NotImplemented

    def __contains__(self, item: str) -> bool:
        return item in self._text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (
            self._text == other._text
            and self._sender == other._sender
            and self._content_type == other._content_type
            and self._attachments == other._attachments
            and self._is_tool_call == other._is_tool_call
            and self._parameters == other._parameters
        )

    __hash__ = None  # type: ignore[assignment]  # text may change while in progress

    def __format__(self, format_spec: str) -> str:
        return format(self._text, format_spec)

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        text = self._text if len(self._text) <= 60 else self._text[:57] + "..."
        extra = ", in_progress=True" if self._in_progress else ""
        extra += ", is_tool_call=True" if self._is_tool_call else ""
        extra += f", attachments={len(self._attachments)}" if self._attachments else ""
        return f"Message(text={text!r}, role={self.role!r}{extra})"

    def __enter__(self) -> Message:
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._rt.lock:
            if self._in_progress:
                self.finish()


def _require_str(text: object) -> None:
    if not isinstance(text, str):
        raise TypeError(f"expected a str, not {type(text).__name__}")


def _attachment_list(attachments: Iterable[Attachment]) -> list[Attachment]:
    if isinstance(attachments, str | bytes):
        raise TypeError("attachments must be a list of poe.Attachment")
    result = list(attachments)
    if not all(isinstance(a, Attachment) for a in result):
        raise TypeError("attachments must be a list of poe.Attachment")
    return result
