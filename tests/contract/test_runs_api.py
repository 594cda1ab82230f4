"""The runs API (SPEC §5): the test console's bodies, paginated history, and tenancy."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.conftest import CreatorInfo
from tests.contract.conftest import (
    Service,
    console_events,
    query_request,
    stream_events,
    text_of,
)

CONVERSATION = """
for message in poe.default_chat:
    print(message.role + ": " + message.text)
print("query: " + poe.query.text)
"""


async def test_the_console_takes_a_whole_conversation(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, CONVERSATION)
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "bot", "content": "Hello!"},
        {"role": "user", "content": "Bye"},
    ]
    events = await console_events(service, creator, name, {"messages": messages})
    assert text_of(events) == (
        "system: Be brief.\n\nuser: Hi\n\nbot: Hello!\n\nuser: Bye\n\nquery: Bye"
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"query": "x", "messages": [{"role": "user", "content": "x"}]},
        {"query": 5},
        {"messages": []},
        {"messages": [{"role": "robot", "content": "x"}]},
        {"query": "x", "extra": 1},
    ],
)
def test_a_bad_console_body_is_422(service: Service, creator: CreatorInfo, body: object) -> None:
    name = service.script(creator, 'print("x")')
    response = service.api("POST", f"/scripts/{name}/run", creator, json=body)
    assert response.status_code == 422 and "detail" in response.json()


async def test_runs_are_listed_newest_first_in_pages(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, "print(poe.query.text)")
    for text in ("one", "two", "three"):
        await console_events(service, creator, name, {"query": text})
    first = service.api("GET", f"/scripts/{name}/runs?limit=2", creator).json()
    rest = service.api("GET", f"/scripts/{name}/runs?limit=2&offset=2", creator).json()
    assert (first["total"], first["limit"], first["offset"]) == (3, 2, 0)
    runs = first["items"] + rest["items"]
    assert len(runs) == 3 and len({r["id"] for r in runs}) == 3
    texts = [
        text_of(
            [(e["event"], e["data"]) for e in service.run(creator, name, r["id"])["transcript"]]
        )
        for r in runs
    ]
    assert texts == ["three", "two", "one"]
    assert all(r["trigger"] == "console" and r["status"] == "ok" for r in runs)
    assert [r["query"] for r in runs] == ["three", "two", "one"]  # what the user sent


async def test_a_run_records_the_last_user_message_cut_to_2000_characters(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, CONVERSATION)
    long = "x" * 5000
    messages = [
        {"role": "user", "content": "first"},
        {"role": "bot", "content": "ok"},
        {"role": "user", "content": long},
    ]
    await console_events(service, creator, name, {"messages": messages})
    (run,) = service.runs(creator, name)
    assert run["query"] == "x" * 1999 + "…"
    assert service.run(creator, name, run["id"])["query"] == run["query"]


def test_runs_belong_to_their_creator(service: Service, creator: CreatorInfo) -> None:
    name = service.script(creator, 'print("mine")')
    response = service.api("POST", f"/scripts/{name}/run", creator, json={"query": "x"})
    assert response.status_code == 200
    (run,) = service.runs(creator, name)
    other = service.creator()
    for method, path, body in [
        ("POST", f"/scripts/{name}/run", {"query": "x"}),
        ("GET", f"/scripts/{name}/runs", None),
        ("GET", f"/scripts/{name}/runs/{run['id']}", None),
        ("GET", f"/scripts/{name}/reports", None),
    ]:
        response = service.api(method, path, other, json=body)
        assert response.status_code == 404, (path, response.text)
        assert "detail" in response.json()
    missing = service.api("GET", f"/scripts/{name}/runs/{uuid.uuid4()}", creator)
    assert missing.status_code == 404
    assert service.api("GET", f"/scripts/{name}/runs/not-a-uuid", creator).status_code == 422
    anonymous = httpx.post(f"{service.base}/api/v1/scripts/{name}/run", json={"query": "x"})
    assert anonymous.status_code == 401
    assert len(service.runs(creator, name)) == 1


async def test_a_script_deleted_during_its_run_still_answers_to_the_end(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, "import time\nprint('start')\ntime.sleep(0.5)\nprint('end')")
    events = stream_events(service.bots_base + name, query_request("x").model_dump(), creator.token)
    assert [await anext(events), await anext(events)] == [
        ("meta", meta_event_data()),
        ("text", {"text": "start"}),
    ]
    assert service.api("DELETE", f"/scripts/{name}", creator).status_code == 204
    rest = [event async for event in events]
    assert rest[-1] == ("done", {}) and text_of(rest) == "\n\nend"
    await asyncio.sleep(0.2)  # the run's end is recorded, or rather skipped, by now
    assert "could not record run" not in service.server.log_path.read_text()


def meta_event_data() -> dict[str, object]:
    return {
        "content_type": "text/markdown",
        "refetch_settings": False,
        "linkify": True,
        "suggested_replies": False,
    }
