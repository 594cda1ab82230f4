"""The console form → the query's messages: the conversation so far (``history``, which the
page's JavaScript keeps), the new message with its attachments and parameters, and the
editor's unsaved text when the console runs it (``source``).

Uploaded attachments are kept by the service like a run's own files and handed to the run
by their ``PUBLIC_URL/files/{id}`` URL; text files also carry their text as
``parsed_content``, as Poe sends it, so a script reads them without a fetch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import fastapi_poe as fp
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from sandbox import Spool
from sandbox.policy.compiler import MAX_SOURCE_BYTES
from service.routes.pages.parameters import Control, form_parameters
from service.routes.schemas import MAX_CONSOLE_QUERY_CHARS, ConsoleRun
from service.runs.attachments import AttachmentError, AttachmentStore, guess_content_type

MAX_HISTORY_CHARS = 2_000_000
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_PARSED_CHARS = 200_000  # text attachments longer than this are sent without their text
_ROLES = frozenset({"user", "bot"})


@dataclass(frozen=True)
class ConsoleInput:
    messages: list[fp.ProtocolMessage]
    draft_source: str | None


async def read_console_form(
    form: FormData, controls: list[Control], store: AttachmentStore, files_url: str
) -> ConsoleInput:
    """The run the form asks for; a 422 page for what cannot be read."""
    query = form.get("query")
    if not isinstance(query, str) or len(query) > MAX_CONSOLE_QUERY_CHARS:
        raise HTTPException(
            422, f"The message must be text of at most {MAX_CONSOLE_QUERY_CHARS} characters."
        )
    attachments = [
        await _keep(upload, store, files_url)
        for upload in form.getlist("attachments")
        if isinstance(upload, UploadFile) and upload.filename
    ]
    content = query.replace("\r\n", "\n")
    last: dict[str, Any] = {"role": "user", "content": content, "attachments": attachments}
    parameters = form_parameters(form, controls)
    if parameters:
        last["parameters"] = parameters
    try:
        body = ConsoleRun(messages=[*_history(form.get("history")), last])
    except ValidationError:
        raise HTTPException(422, "The conversation could not be read; start a new one.") from None
    source = form.get("source")
    draft = source.replace("\r\n", "\n") if isinstance(source, str) and source else None
    if draft is not None and len(draft.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        raise HTTPException(422, f"The source is over {MAX_SOURCE_BYTES // 1024} KiB.")
    return ConsoleInput(body.conversation(), draft)


def _history(raw: Any) -> list[dict[str, Any]]:
    """The earlier turns: ``[{"role": "user"|"bot", "content", "attachments"?}]``."""
    if not isinstance(raw, str) or not raw.strip():
        return []
    if len(raw) > MAX_HISTORY_CHARS:
        raise HTTPException(422, "The conversation is too long; start a new one.")
    try:
        turns = json.loads(raw)
    except (ValueError, RecursionError):
        raise HTTPException(422, "The conversation could not be read; start a new one.") from None
    if not isinstance(turns, list):
        raise HTTPException(422, "The conversation could not be read; start a new one.")
    messages = []
    for turn in turns:
        if not isinstance(turn, dict) or turn.get("role") not in _ROLES:
            raise HTTPException(422, "The conversation could not be read; start a new one.")
        content = turn.get("content")
        messages.append(
            {
                "role": turn["role"],
                "content": content if isinstance(content, str) else "",
                "attachments": _attachments(turn.get("attachments")),
            }
        )
    return messages


def _attachments(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        return []
    kept = []
    for item in raw[:20]:
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            kept.append(
                {
                    "url": item["url"],
                    "name": str(item.get("name") or "attachment"),
                    "content_type": str(item.get("content_type") or "application/octet-stream"),
                }
            )
    return kept


async def _keep(upload: UploadFile, store: AttachmentStore, files_url: str) -> dict[str, Any]:
    data = await upload.read(MAX_ATTACHMENT_BYTES + 1)
    name = (upload.filename or "attachment")[:200]
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise HTTPException(413, f"{name} is over {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB.")
    kind = guess_content_type(name, upload.content_type or None)
    attachment: dict[str, Any] = {"name": name, "content_type": kind}
    spool = Spool.of(data)
    try:
        attachment["url"] = files_url + await store.save(name, kind, spool)
    except AttachmentError as exc:  # the creator's files are over their limit
        raise HTTPException(413, str(exc)) from None
    finally:
        spool.close()
    if kind.startswith("text/") or kind in ("application/json", "text/csv"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = None
        if text is not None and len(text) <= MAX_PARSED_CHARS:
            attachment["parsed_content"] = text
    return attachment
