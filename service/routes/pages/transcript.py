"""A run's recorded events (the Poe SSE it sent) → what the creator saw: text, files, errors;
and the HTTP requests a half-shield script made (``http`` entries, issue 10).

The same folding the console's JavaScript does live: ``text`` appends, ``replace_response``
replaces, ``file`` adds an attachment, ``error`` is shown apart. Attachment URLs other than
http(s) are dropped here, so no template can ever be handed a ``javascript:`` link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class FileShown:
    url: str
    name: str
    content_type: str
    inline_ref: str | None

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


@dataclass(frozen=True)
class RequestShown:
    """One HTTP request of the script: what the record keeps, never headers or bodies."""

    method: str
    host: str
    path: str
    status: int | None
    bytes: int
    duration_ms: int
    error: str | None


@dataclass
class Transcript:
    text: str = ""
    files: list[FileShown] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[RequestShown] = field(default_factory=list)
    finished: bool = False


def fold_events(events: list[tuple[str, Any]]) -> Transcript:
    """``events`` as ``(event name, data)`` in order; unknown or malformed ones are skipped."""
    shown = Transcript()
    for name, data in events:
        data = data if isinstance(data, dict) else {}
        text = data.get("text")
        if name == "text" and isinstance(text, str):
            shown.text += text
        elif name == "replace_response" and isinstance(text, str):
            shown.text = text
        elif name == "error":
            shown.errors.append(text if isinstance(text, str) else "The run failed.")
        elif name == "file":
            attachment = _file(data)
            if attachment is not None:
                shown.files.append(attachment)
        elif name == "http":
            shown.requests.append(_request(data))
        elif name == "done":
            shown.finished = True
    return shown


def _request(data: dict[str, Any]) -> RequestShown:
    def text(key: str) -> str:
        value = data.get(key)
        return value if isinstance(value, str) else ""

    def number(key: str) -> int | None:
        value = data.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return RequestShown(
        method=text("method"),
        host=text("host"),
        path=text("path"),
        status=number("status"),
        bytes=number("bytes") or 0,
        duration_ms=number("duration_ms") or 0,
        error=text("error") or None,
    )


def safe_url(url: Any) -> str | None:
    """``url`` when it is an absolute http(s) URL, else None."""
    if not isinstance(url, str) or not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _file(data: dict[str, Any]) -> FileShown | None:
    url = safe_url(data.get("url"))
    if url is None:
        return None
    ref = data.get("inline_ref")
    return FileShown(
        url=url,
        name=str(data.get("name") or "attachment"),
        content_type=str(data.get("content_type") or "application/octet-stream"),
        inline_ref=ref if isinstance(ref, str) else None,
    )
