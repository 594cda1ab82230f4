"""The messages a run's ``poe.default_chat`` is primed with, from a query and the script's
settings, as Poe and ``fastapi_poe`` would hand them to a server bot.

- ``allow_attachments`` (Poe's default: off): Poe sends attachments only to bots that allow
  them, so the test console drops them too when the setting is off;
- ``parsed_content`` (text files when ``expand_text_attachments``, on by default; images when
  ``enable_image_comprehension``) becomes user messages before the last user message, with
  ``fastapi_poe``'s own templates (``PoeBot.insert_attachment_messages``, reference 003).
"""

from __future__ import annotations

from typing import Any

import fastapi_poe as fp


def conversation(query: fp.QueryRequest, settings: fp.SettingsResponse) -> list[dict[str, Any]]:
    """``RunStart.conversation``: the query's messages as ``fp.ProtocolMessage`` dumps."""
    messages = [_with_allowed_attachments(m, settings) for m in query.query]
    if messages and messages[-1].attachments:
        request = query.model_copy(update={"query": messages})
        messages = _ATTACHMENT_INSERTER.insert_attachment_messages(request).query
    return [m.model_dump(mode="json") for m in messages]


def _with_allowed_attachments(
    message: fp.ProtocolMessage, settings: fp.SettingsResponse
) -> fp.ProtocolMessage:
    if not message.attachments:
        return message
    if not settings.allow_attachments:
        return message.model_copy(update={"attachments": []})
    kept = [_parsed_content_allowed(a, settings) for a in message.attachments]
    return message.model_copy(update={"attachments": kept})


def _parsed_content_allowed(attachment: fp.Attachment, settings: fp.SettingsResponse) -> Any:
    if attachment.parsed_content is None:
        return attachment
    if "image" in attachment.content_type:
        allowed = bool(settings.enable_image_comprehension)
    else:
        allowed = settings.expand_text_attachments is not False
    return attachment if allowed else attachment.model_copy(update={"parsed_content": None})


# Only for ``insert_attachment_messages``: fastapi_poe's own templates, not a copy of them.
_ATTACHMENT_INSERTER = fp.PoeBot()
