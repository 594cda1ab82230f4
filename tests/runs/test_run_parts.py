"""Small parts of a run: the primed conversation per the script's settings, a run's share of
the query's budget, and a nested run's events seen as a called bot's parts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import fastapi_poe as fp
import pytest
from fastapi_poe.templates import TEXT_ATTACHMENT_TEMPLATE

from sandbox.errors import BotCallLimit, BotCallRefused
from sandbox.protocol import AttachmentInfo
from service.runs.conversation import conversation
from service.runs.events import (
    SseEvent,
    done_event,
    error_event,
    file_event,
    meta_event,
    replace_response_event,
    text_event,
)
from service.runs.hostedcalls import parts_from_events
from service.runs.services import RunCalls

TEXT = fp.Attachment(
    url="https://f.example/a.txt", content_type="text/plain", name="a.txt", parsed_content="A!"
)
IMAGE = fp.Attachment(
    url="https://f.example/b.png", content_type="image/png", name="b.png", parsed_content="b***B"
)


def query(*attachments: fp.Attachment) -> fp.QueryRequest:
    return fp.QueryRequest(
        version="1.2",
        type="query",
        query=[
            fp.ProtocolMessage(role="user", content="earlier"),
            fp.ProtocolMessage(role="user", content="now", attachments=list(attachments)),
        ],
        user_id="u",
        conversation_id="c",
        message_id="m",
    )


def contents(messages: list[dict[str, Any]]) -> list[str]:
    return [m["content"] for m in messages]


def test_attachments_reach_a_script_only_when_it_allows_them() -> None:
    dropped = conversation(query(TEXT), fp.SettingsResponse())
    assert contents(dropped) == ["earlier", "now"] and dropped[-1]["attachments"] == []
    kept = conversation(query(TEXT), fp.SettingsResponse(allow_attachments=True))
    assert kept[-1]["attachments"][0]["url"] == TEXT.url
    expected = TEXT_ATTACHMENT_TEMPLATE.format(
        attachment_name="a.txt", attachment_parsed_content="A!"
    )
    assert contents(kept) == ["earlier", expected, "now"]


def test_parsed_content_follows_the_parsing_settings() -> None:
    settings = fp.SettingsResponse(allow_attachments=True, expand_text_attachments=False)
    messages = conversation(query(TEXT, IMAGE), settings)
    assert contents(messages) == ["earlier", "now"]  # images need enable_image_comprehension
    assert messages[-1]["attachments"][0]["parsed_content"] is None
    both = fp.SettingsResponse(allow_attachments=True, enable_image_comprehension=True)
    assert len(conversation(query(TEXT, IMAGE), both)) == 4


def test_a_runs_calls_are_counted_apart_within_the_querys_budget() -> None:
    first = RunCalls.for_query(3)
    nested = RunCalls(first.query_budget)
    first.spend("A")
    nested.spend("B")
    nested.spend("B")
    with pytest.raises(BotCallLimit):
        first.spend("A")
    assert (first.used, nested.used, first.query_budget.used) == (1, 2, 3)


async def events(*items: SseEvent) -> AsyncIterator[SseEvent]:
    for item in items:
        yield item


async def test_a_nested_runs_events_become_parts() -> None:
    info = AttachmentInfo(url="https://f.example/x", content_type="text/csv", name="x.csv")
    parts = [
        part
        async for part in parts_from_events(
            "B",
            events(
                meta_event(),
                text_event("one"),
                text_event(""),
                replace_response_event("two"),
                file_event(info),
                done_event(),
            ),
        )
    ]
    assert [(p.text, p.is_replace_response) for p in parts] == [
        ("one", False),
        ("two", True),
        ("", False),
    ]
    assert parts[2].attachment == fp.Attachment(url=info.url, content_type="text/csv", name="x.csv")


async def test_a_failed_nested_run_raises_after_it_ended() -> None:
    seen: list[fp.PartialResponse] = []
    with pytest.raises(BotCallRefused) as caught:
        async for part in parts_from_events(
            "B", events(text_event("partial"), error_event("broken"), done_event())
        ):
            seen.append(part)
    assert caught.value.message == "broken" and caught.value.bot_name == "B"
    assert [p.text for p in seen] == ["partial"]
