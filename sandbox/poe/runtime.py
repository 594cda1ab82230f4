"""One run's private state, shared by every object the script gets and shown to none of them.

Each run gets its own subclasses of Attachment, Message and Chat whose class attribute
``_rt`` is the Runtime, so ``poe.Message(...)`` made by the script reaches the right port.
Script-visible objects hold it only under ``_`` names, which the sandbox policy refuses.
Nothing here lives in module globals: functions the script can reach have clean globals.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from sandbox.poe.attachments import Attachment
from sandbox.poe.chat import Chat, UserMember
from sandbox.poe.messages import Message, Sender
from sandbox.poe.parallel import Pool
from sandbox.poe.response import Response

if TYPE_CHECKING:
    import fastapi_poe as fp

    from sandbox.poe.port import HostPort

_T = TypeVar("_T", bound=type)


def _bind(base: _T, runtime: Runtime) -> _T:
    """A per-run subclass of ``base`` that knows its run; shown as ``poe.<Name>``."""
    namespace: dict[str, Any] = {
        "__slots__": (),
        "__module__": "poe",
        "__qualname__": base.__name__,
        "__doc__": base.__doc__,
        "_rt": runtime,
    }
    return type(base)(base.__name__, (base,), namespace)


class Runtime:
    """The port, the lock, the response and the per-run classes of one run."""

    __slots__ = (
        "Attachment",
        "Chat",
        "Message",
        "bot_name",
        "default_chat_var",
        "lock",
        "pool",
        "port",
        "primed_chat",
        "query_var",
        "response",
        "settings_run",
    )

    def __init__(
        self,
        port: HostPort,
        *,
        bot_name: str,
        conversation: list[fp.ProtocolMessage],
        max_output_chars: int,
        users: Sequence[fp.User] = (),
        settings_run: bool = False,
    ) -> None:
        self.port = port
        self.bot_name = bot_name
        self.settings_run = settings_run
        self.response = Response(port, max_output_chars)
        self.lock = self.response.lock
        self.Attachment = _bind(Attachment, self)
        self.Message = _bind(Message, self)
        self.Chat = _bind(Chat, self)
        self.pool = Pool()
        # The conversation primes default_chat without being echoed: only what the script
        # adds is its response.
        primed = [self.Message.from_protocol_message(m) for m in conversation]
        query = next((m for m in reversed(primed) if m.role == "user"), None)
        # Context variables, so that `with chat:` and set_query inside a poe.parallel task
        # stay in that task (each task runs in a copy of its caller's context).
        members = [UserMember(name=u.name, user_identifier=u.id) for u in users]
        self.primed_chat = self.Chat(*primed, quiet=False, user_members=members)
        self.default_chat_var: ContextVar[Chat | None] = ContextVar(
            "poe.default_chat", default=None
        )
        self.query_var: ContextVar[Message | None] = ContextVar("poe.query", default=query)

    def bot_sender(self) -> Sender:
        return Sender(role="bot", name=self.bot_name)

    def as_message(self, value: object, where: str) -> Message:
        if isinstance(value, Message):
            return value
        if isinstance(value, str):
            return self.Message(text=value)
        raise TypeError(f"{where} expects a str or a poe.Message, not {type(value).__name__}")

    def default_chat(self) -> Chat:
        """``poe.default_chat``: the chat of the innermost ``with chat:``, else the primed one."""
        chat = self.default_chat_var.get()
        return self.primed_chat if chat is None else chat  # an empty Chat is falsy

    def echo(self, message: Message) -> int:
        """Add ``message`` to the response (caller holds the lock); returns its msg_id."""
        return self.response.add(
            role=message.role,  # type: ignore[arg-type]  # validated by Sender
            text=message.text,
            sender_name=message.sender.name,
            content_type=message.content_type,
            attachments=[a._info() for a in message.attachments],
            finished=not message.in_progress,
        )

    def close(self) -> None:
        """End of run: finish echoed messages still in progress, stop the thread pool."""
        self.response.finish_all()
        self.pool.shutdown()
