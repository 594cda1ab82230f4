"""Half-shield scripts reach the web through the service, queried with the real fastapi_poe
client; full-shield ones are refused in words; the operator's switches hold; each request is
in the run's record, never its headers or bodies (issue 10). A loopback server stands in for
the web (the contract servers set FETCH_ALLOW_PRIVATE)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import CreatorInfo
from tests.contract.conftest import Service, _serve, ask, bot_events, error_of
from tests.upstream import Upstream
from tests.webstandin import WebRecord, serve_web

HALF = "# poe: privacy_shield=half\n"

CHAT_API = """
import json, httpx, requests

API = BASE + "/v1/chat/completions"
KEY = "sk-not-a-real-key"
messages = [{"role": "user", "content": poe.query.text}]
answer = requests.post(API, json={"model": "m", "messages": messages},
                       headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
answer.raise_for_status()
print(answer.json()["choices"][0]["message"]["content"])
with poe.start_message() as message:
    with httpx.stream("POST", API, json={"model": "m", "messages": messages, "stream": True},
                      headers={"Authorization": f"Bearer {KEY}"}) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                message.write(json.loads(line[6:])["choices"][0]["delta"]["content"])
"""

ONE_GET = """
import requests
print(requests.get(BASE + "/hello").text)
"""

COUNTED = """
import requests
for url in (BASE + "/hello", BASE + "/hello", BASE + "/hello", OTHER + "/hello"):
    try:
        print(requests.get(url).text)
    except requests.ConnectionError as exc:
        print(str(exc))
"""


@pytest.fixture(scope="module")
def web() -> Iterator[tuple[str, WebRecord]]:
    with serve_web() as served:
        yield served


def _source(base: str, body: str, *, half: bool = True, **names: str) -> str:
    constants = "".join(f"{k} = {v!r}\n" for k, v in {"BASE": base, **names}.items())
    return (HALF if half else "") + constants + body


def _http_entries(service: Service, creator: CreatorInfo, name: str) -> list[dict[str, object]]:
    (run,) = service.runs(creator, name)
    record = service.run(creator, name, run["id"])
    return [e["data"] for e in record["transcript"] if e["event"] == "http"]


async def test_a_half_shield_script_calls_an_openai_style_api_with_requests_and_httpx(
    service: Service, creator: CreatorInfo, web: tuple[str, WebRecord]
) -> None:
    base, record = web
    name = service.script(creator, _source(base, CHAT_API))
    text = await ask(service, name, creator.token, "hello there")
    assert text == "echo: hello there\n\necho: hello there "
    entries = _http_entries(service, creator, name)
    host = base.removeprefix("http://")
    assert [(e["method"], e["host"], e["path"], e["status"]) for e in entries] == [
        ("POST", host, "/v1/chat/completions", 200)
    ] * 2
    assert all(isinstance(e["bytes"], int) and e["bytes"] > 0 for e in entries)
    assert all(isinstance(e["duration_ms"], int) for e in entries)
    stored = json.dumps(service.run(creator, name, service.runs(creator, name)[0]["id"]))
    assert "sk-not-a-real-key" not in stored and "Authorization" not in stored
    sent = [headers for method, path, headers in record.requests if path == "/v1/chat/completions"]
    assert sent[-1]["authorization"] == "Bearer sk-not-a-real-key"


async def test_a_full_shield_script_is_refused_naming_the_header(
    service: Service, creator: CreatorInfo, web: tuple[str, WebRecord]
) -> None:
    base, record = web
    seen = len(record.requests)
    name = service.script(creator, _source(base, ONE_GET, half=False))
    error = error_of(await bot_events(service, name, creator.token, "hi"))
    assert "`# poe: privacy_shield=half`" in error["text"]
    assert "ConnectionError" in error["text"] and len(record.requests) == seen
    assert _http_entries(service, creator, name) == []


@pytest.fixture(scope="module")
def strict_service(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream
) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("contract-egress-strict")
    yield from _serve(
        workdir,
        upstream,
        f"sqlite:///{workdir / 'scriptbots.db'}",
        SCRIPTBOTS_RUN_MAX_HTTP_REQUESTS="2",
        SCRIPTBOTS_EGRESS_ALLOW="127.0.0.1",
    )


@pytest.fixture(scope="module")
def closed_service(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream
) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("contract-egress-closed")
    yield from _serve(
        workdir,
        upstream,
        f"sqlite:///{workdir / 'scriptbots.db'}",
        SCRIPTBOTS_ALLOW_HALF_SHIELD="false",
    )


async def test_the_request_budget_and_host_patterns_hold(
    strict_service: Service, web: tuple[str, WebRecord]
) -> None:
    base, _ = web
    other = base.replace("127.0.0.1", "127.0.0.2")
    creator = strict_service.creator()
    name = strict_service.script(creator, _source(base, COUNTED, OTHER=other))
    lines = (await ask(strict_service, name, creator.token, "go")).split("\n\n")
    assert lines[:2] == ["hello world", "hello world"]
    assert "limit of 2 HTTP requests" in lines[2] and "RUN_MAX_HTTP_REQUESTS" in lines[2]
    assert "limit of 2 HTTP requests" in lines[3]
    entries = _http_entries(strict_service, creator, name)
    assert [e["error"] for e in entries] == [None, None, "limit", "limit"]


async def test_a_host_outside_egress_allow_is_refused(
    strict_service: Service, web: tuple[str, WebRecord]
) -> None:
    base, _ = web
    other = base.replace("127.0.0.1", "127.0.0.2")
    creator = strict_service.creator()
    name = strict_service.script(creator, _source(other, ONE_GET))
    error = error_of(await bot_events(strict_service, name, creator.token, "hi"))
    assert "127.0.0.2 is not among the hosts" in error["text"]
    assert "SCRIPTBOTS_EGRESS_ALLOW" in error["text"]


async def test_half_shield_switched_off_refuses_in_words(
    closed_service: Service, web: tuple[str, WebRecord]
) -> None:
    base, record = web
    seen = len(record.requests)
    creator = closed_service.creator()
    name = closed_service.script(creator, _source(base, ONE_GET))
    error = error_of(await bot_events(closed_service, name, creator.token, "hi"))
    assert "SCRIPTBOTS_ALLOW_HALF_SHIELD" in error["text"] and len(record.requests) == seen
