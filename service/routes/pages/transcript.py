"""A run's recorded events (the Poe SSE it sent) → what the creator saw: text, files, errors.

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


@dataclass
class Transcript:
    text: str = ""
    files: list[FileShown] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
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
        elif name == "done":
            shown.finished = True
    return shown


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
