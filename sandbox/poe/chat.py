"""``poe.Chat``: a sequence of messages; a non-quiet chat echoes what joins it to the chat UI."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextvars import Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, overload

from sandbox.poe.messages import Message, Sender

if TYPE_CHECKING:
    from sandbox.poe.runtime import Runtime

_SUMMARY_TEXT_CHARS = 80


@dataclass(frozen=True, slots=True)
class UserMember:
    """A user in the chat (Poe's group chats): display name, identifier, photo URL."""

    name: str | None
    user_identifier: str
    photo_url: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.user_identifier, str):
            raise TypeError("UserMember user_identifier must be a str")
        for field in ("name", "photo_url"):
            if not isinstance(getattr(self, field), str | None):
                raise TypeError(f"UserMember {field} must be a str or None")


def _member_list(members: Iterable[UserMember] | None) -> list[UserMember]:
    if members is None:
        return []
    result = [] if isinstance(members, str | bytes) else list(members)
    if (not result and members) or not all(isinstance(m, UserMember) for m in result):
        raise TypeError("user_members must be a list of poe.UserMember")
    return result


class Chat(Sequence[Message]):
    """Messages from strings, messages and chats; ``quiet=False`` echoes later additions."""

    __slots__ = ("_initial_length", "_messages", "_quiet", "_tokens", "_user_members")
    _rt: ClassVar[Runtime]
    _messages: list[Message]  # read from the chats given to __init__, before it sets its own

    def __init__(
        self,
        *args: str | Message | Chat,
        initial_length: int | None = None,
        quiet: bool = True,
        user_members: Iterable[UserMember] | None = None,
    ) -> None:
        messages: list[Message] = []
        for arg in args:
            if isinstance(arg, Chat):
                messages.extend(arg._messages)
            else:
                messages.append(self._rt.as_message(arg, "Chat arguments"))
        if initial_length is not None and (
            not isinstance(initial_length, int) or isinstance(initial_length, bool)
        ):
            raise TypeError("initial_length must be an int or None")
        if initial_length is not None and initial_length < 0:
            raise ValueError("initial_length must not be negative")
        self._messages = messages
        self._initial_length = len(messages) if initial_length is None else initial_length
        self._quiet = bool(quiet)
        self._tokens: list[Token[Any]] = []
        self._user_members = _member_list(user_members)

    # -- properties ---------------------------------------------------------------------

    @property
    def messages(self) -> list[Message]:
        return list(self._messages)

    @property
    def last(self) -> Message:
        return self._messages[-1]

    @property
    def text(self) -> str:
        """All texts joined by newlines, tool-call messages left out."""
        return "\n".join(m.text for m in self._messages if not m.is_tool_call)

    @property
    def initial_length(self) -> int:
        return self._initial_length

    @property
    def quiet(self) -> bool:
        return self._quiet

    @property
    def user_members(self) -> list[UserMember]:
        """The users in the chat; for ``poe.default_chat``, the query's users (if Poe sent them)."""
        return list(self._user_members)

    # -- adding -------------------------------------------------------------------------

    def add_message(self, message: Message | str) -> None:
        """Append; a non-quiet chat also echoes it (and its later changes) to the chat UI."""
        message = self._rt.as_message(message, "add_message")
        if self._quiet:
            with self._rt.lock:
                self._messages.append(message)
            return
        for attachment in message.attachments:
            attachment._store()  # upload before taking the lock that every writer needs
        with self._rt.lock:
            message._echo_ids.append(self._rt.echo(message))
            self._messages.append(message)

    def add_messages(self, messages: Iterable[Message | str]) -> None:
        if isinstance(messages, str | Message):
            raise TypeError("add_messages expects an iterable of messages; use add_message")
        for message in list(messages):
            self.add_message(message)

    def start_message(
        self, sender: Sender | str | None = None, content_type: str = "text/markdown"
    ) -> Message:
        """Add and return a new empty message in progress (from the current bot by default)."""
        message = self._rt.Message(
            text="",
            sender=self._rt.bot_sender() if sender is None else sender,
            content_type=content_type,
            in_progress=True,
        )
        self.add_message(message)
        return message

    def __iadd__(self, other: Message | str | Iterable[Message | str]) -> Chat:
        if isinstance(other, Message | str):
            self.add_message(other)
        else:
            self.add_messages(other)
        return self

    # -- derived chats ------------------------------------------------------------------

    def make_child(self) -> Chat:
        """A copy whose new_messages() are the ones added from now on."""
        return self._rt.Chat(*self._messages, quiet=self._quiet, user_members=self._user_members)

    def copy(self, quiet: bool | None = None) -> Chat:
        return self._rt.Chat(
            *self._messages,
            initial_length=self._initial_length,
            quiet=self._quiet if quiet is None else quiet,
            user_members=self._user_members,
        )

    def new_messages(self) -> list[Message]:
        return self._messages[self._initial_length :]

    def summarize(self) -> str:
        """One line per message: number, role, sender, text cut short, attachments."""
        lines = [f"Chat with {len(self._messages)} message(s), {len(self.new_messages())} new:"]
        for number, message in enumerate(list(self._messages), start=1):
            who = message.role + (f" ({message.sender.name})" if message.sender.name else "")
            text = " ".join(message.text.split())
            if len(text) > _SUMMARY_TEXT_CHARS:
                text = text[: _SUMMARY_TEXT_CHARS - 3] + "..."
            notes = " [tool call]" if message.is_tool_call else ""
            if message.attachments:
                notes += f" [{len(message.attachments)} attachment(s)]"
            lines.append(f"{number}. {who}: {text}{notes}")
        return "\n".join(lines)

    # -- sequence protocol --------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._messages)

    @overload
    def __getitem__(self, index: int) -> Message: ...
    @overload
    def __getitem__(self, index: slice) -> Chat: ...
    def __getitem__(self, index: int | slice) -> Message | Chat:
        if isinstance(index, slice):
            return self._rt.Chat(*self._messages[index], user_members=self._user_members)
        return self._messages[index]

    def __iter__(self) -> Iterator[Message]:
        return iter(list(self._messages))  # a snapshot: other threads may add meanwhile

    def __contains__(self, item: object) -> bool:
        """A str: is it in any message's text? A message: is an equal one in the chat?"""
        if isinstance(item, str):
            return any(item in message.text for message in self._messages)
        if isinstance(item, Message):
            return any(item == message for message in self._messages)
        raise TypeError(f"'in <Chat>' requires a str or a Message, not {type(item).__name__}")

    # -- context manager and formatting -------------------------------------------------

    def __enter__(self) -> Chat:
        """Be ``poe.default_chat`` (where print goes) until the block ends."""
        self._tokens.append(self._rt.default_chat_var.set(self))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._rt.default_chat_var.reset(self._tokens.pop())

    def __format__(self, format_spec: str) -> str:
        return format(self.text, format_spec)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Chat({len(self._messages)} messages, quiet={self._quiet})"
