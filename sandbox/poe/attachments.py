"""``poe.Attachment``: an immutable file reference, stored through the host only when needed.

Contents given by the script are uploaded (``HostPort.upload``) the first time a URL is
needed: when the attachment joins an echoed message, is sent to a bot, or ``.url`` is
read. A third-party URL given by the script is fetched and re-uploaded the same way, so
``url`` always names storage the host controls. Copies share the stored file.
"""

from __future__ import annotations

import secrets
import string
import threading
from typing import TYPE_CHECKING, Any, ClassVar

import fastapi_poe as fp

from sandbox.protocol import AttachmentInfo

if TYPE_CHECKING:
    from sandbox.poe.messages import Message
    from sandbox.poe.runtime import Runtime

_REF_ALPHABET = string.ascii_letters + string.digits
_DEFAULT_CONTENT_TYPE = "application/octet-stream"
# A small table instead of `mimetypes`, which reads system files on first use.
_CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "md": "text/markdown",
    "csv": "text/csv",
    "json": "application/json",
    "html": "text/html",
    "xml": "application/xml",
    "zip": "application/zip",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "mp4": "video/mp4",
}


def new_inline_ref() -> str:
    """Eight letters and digits, the shape fastapi_poe gives inline references."""
    return "".join(secrets.choice(_REF_ALPHABET) for _ in range(8))


def guess_content_type(*names: str | None) -> str | None:
    for name in names:
        if name:
            stem = name.split("?", 1)[0].split("#", 1)[0]
            if "." in stem:
                found = _CONTENT_TYPES.get(stem.rsplit(".", 1)[1].lower())
                if found:
                    return found
    return None


class _Blob:
    """The bytes behind an attachment and where they are stored; shared by its copies."""

    __slots__ = ("contents", "lock", "origin", "source_url", "stored")

    def __init__(
        self, contents: bytes | None, source_url: str | None, stored: AttachmentInfo | None
    ) -> None:
        self.contents = contents
        self.source_url = source_url  # a URL to fetch and re-upload
        self.stored = stored  # where the host keeps it, once known
        # What the file is, for equality: its bytes, or the URL it came from.
        self.origin: object = (
            contents if contents is not None else (source_url or (stored.url if stored else None))
        )
        self.lock = threading.Lock()


class Attachment:
    """A file in a message: ``name`` plus either ``contents`` or ``url`` (not both)."""

    __slots__ = ("_blob", "_content_type", "_inline_ref", "_is_inline", "_name", "_parsed")
    _rt: ClassVar[Runtime]

    def __init__(
        self,
        name: str,
        contents: bytes | None = None,
        url: str | None = None,
        content_type: str | None = None,
        is_inline: bool = False,
    ) -> None:
        if not isinstance(name, str):
            raise TypeError("Attachment name must be a str")
        if not name:
            raise ValueError("Attachment name must not be empty")
        if (contents is None) == (url is None):
            raise ValueError("Give an Attachment either contents or a url, not both")
        if contents is not None and not isinstance(contents, bytes | bytearray | memoryview):
            raise TypeError("Attachment contents must be bytes (encode text first)")
        if url is not None and not isinstance(url, str):
            raise TypeError("Attachment url must be a str")
        if content_type is not None and not isinstance(content_type, str):
            raise TypeError("Attachment content_type must be a str or None")
        data = bytes(contents) if contents is not None else None
        self._blob = _Blob(data, url, None)
        self._name = name
        self._content_type = content_type or guess_content_type(name, url)
        self._is_inline = bool(is_inline)
        self._inline_ref = new_inline_ref() if is_inline else None
        self._parsed: str | None = None

    @classmethod
    def _make(
        cls,
        blob: _Blob,
        name: str,
        content_type: str | None,
        is_inline: bool,
        inline_ref: str | None,
        parsed: str | None = None,
    ) -> Attachment:
        attachment = cls.__new__(cls)
        attachment._blob = blob
        attachment._name = name
        attachment._content_type = content_type
        attachment._is_inline = is_inline
        attachment._inline_ref = inline_ref
        attachment._parsed = parsed
        return attachment

    @property
    def name(self) -> str:
        return self._name

    @property
    def content_type(self) -> str:
        """As given, else guessed from the name, else what the host inferred when storing."""
        stored = self._blob.stored
        return self._content_type or (stored.content_type if stored else _DEFAULT_CONTENT_TYPE)

    @property
    def url(self) -> str:
        """Where the host stores the file; uploads it on first use."""
        return self._store().url

    @property
    def inline_ref(self) -> str | None:
        return self._inline_ref

    @property
    def is_inline(self) -> bool:
        return self._is_inline

    def get_contents(self) -> bytes:
        """The file's bytes, fetched through the host when only a URL is known."""
        blob = self._blob
        with blob.lock:
            if blob.contents is None:
                url = blob.source_url or (blob.stored.url if blob.stored else "")
                blob.contents = self._rt.port.fetch(url)
            return blob.contents

    def copy(self, name: str | None = None, is_inline: bool | None = None) -> Attachment:
        """A copy with another name or inline status; it shares the stored file."""
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError("Attachment name must be a non-empty str")
        inline = self._is_inline if is_inline is None else bool(is_inline)
        return type(self)._make(
            self._blob,
            self._name if name is None else name,
            self._content_type,
            inline,
            new_inline_ref() if inline else None,
            self._parsed,
        )

    @classmethod
    def from_protocol_attachment(cls, a: fp.Attachment) -> Attachment:
        if not isinstance(a, fp.Attachment):
            raise TypeError("from_protocol_attachment expects an fp.Attachment")
        stored = AttachmentInfo(
            url=a.url, content_type=a.content_type, name=a.name, inline_ref=a.inline_ref
        )
        blob = _Blob(None, None, stored)
        return cls._make(
            blob, a.name, a.content_type, a.inline_ref is not None, a.inline_ref, a.parsed_content
        )

    def to_protocol_attachment(self) -> fp.Attachment:
        return fp.Attachment(
            url=self.url,
            content_type=self.content_type,
            name=self._name,
            inline_ref=self._inline_ref,
            parsed_content=self._parsed,
        )

    def _store(self) -> AttachmentInfo:
        blob = self._blob
        with blob.lock:
            if blob.stored is None:
                port = self._rt.port
                if blob.contents is None:
                    blob.contents = port.fetch(blob.source_url or "")
                blob.stored = port.upload(
                    self._name, blob.contents, self._content_type, self._is_inline
                )
            return blob.stored

    def _info(self) -> AttachmentInfo:
        """This attachment as the host shows it; our own name and inline_ref win."""
        stored = self._store()
        return AttachmentInfo(
            url=stored.url,
            content_type=self.content_type,
            name=self._name,
            inline_ref=self._inline_ref,
        )

    def _key(self) -> tuple[Any, ...]:
        return (self._name, self._content_type, self._is_inline, self._blob.origin)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Attachment):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __add__(self, other: object) -> Message:
        """``attachment + "text"`` or ``attachment + message``: a message with it first."""
        from sandbox.poe.messages import Message  # messages imports this module

        if isinstance(other, str):
            return self._rt.Message(text=other, attachments=[self])
        if isinstance(other, Message):
            return other._derive(attachments=(self, *other.attachments))
        return NotImplemented

    def __radd__(self, other: object) -> Message:
        if isinstance(other, str):
            return self._rt.Message(text=other, attachments=[self])
        return NotImplemented

    def __repr__(self) -> str:
        return (
            f"Attachment(name={self._name!r}, content_type={self.content_type!r}, "
            f"is_inline={self._is_inline!r})"
        )
