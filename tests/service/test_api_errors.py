"""Every bad input answers 4xx JSON with a ``detail``, never 500; a failed request changes
nothing. (The autouse fixture in conftest.py fails any test whose request reached the
last-resort handler.)"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from sandbox.policy.compiler import MAX_SOURCE_BYTES
from service.app import create_app
from service.errors import NameTaken
from service.routes.deps import CurrentCreator, SessionDep
from service.settings import Settings
from service.sources import check_script_source
from service.store import scripts as store
from service.store.db import Database
from service.store.tables import Script
from tests.conftest import HELLO_SOURCE, CreatorInfo, unique_name

MakeScript = Callable[..., Awaitable[dict[str, Any]]]
KEY = "k" * 32


def assert_error(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["detail"]
    return body


# -- create --------------------------------------------------------------------------------

BAD_CREATES: list[tuple[str, Any]] = [
    ("missing name", {"source": HELLO_SOURCE}),
    ("missing source", {"name": "valid-name"}),
    ("name too short", {"name": "ab", "source": HELLO_SOURCE}),
    ("name too long", {"name": "a" * 41, "source": HELLO_SOURCE}),
    ("name starts with a digit", {"name": "1abc", "source": HELLO_SOURCE}),
    ("name starts with a dash", {"name": "-abc", "source": HELLO_SOURCE}),
    ("name with a space", {"name": "ab cd", "source": HELLO_SOURCE}),
    ("name with a slash", {"name": "ab/cd", "source": HELLO_SOURCE}),
    ("name with a newline", {"name": "abcd\n", "source": HELLO_SOURCE}),
    ("name not ascii", {"name": "héllo", "source": HELLO_SOURCE}),
    ("name not a string", {"name": 12345, "source": HELLO_SOURCE}),
    ("source not a string", {"name": "valid-name", "source": ["print(1)"]}),
    ("source null", {"name": "valid-name", "source": None}),
    ("source lone surrogate", {"name": "valid-name", "source": "x = '\ud800'"}),
    ("key too short", {"name": "valid-name", "source": HELLO_SOURCE, "poe_access_key": "k" * 31}),
    ("key too long", {"name": "valid-name", "source": HELLO_SOURCE, "poe_access_key": "k" * 33}),
    ("key with a space", {"name": "valid-name", "source": "x=1", "poe_access_key": "k " * 16}),
    ("key not a string", {"name": "valid-name", "source": "x=1", "poe_access_key": 1}),
    ("settings not an object", {"name": "valid-name", "source": "x=1", "settings": "x"}),
    ("settings unknown field", {"name": "valid-name", "source": "x=1", "settings": {"x": 1}}),
    (
        "settings wrong type",
        {"name": "valid-name", "source": "x=1", "settings": {"allow_attachments": "maybe"}},
    ),
    (
        "settings bad dependencies",
        {"name": "valid-name", "source": "x=1", "settings": {"server_bot_dependencies": [1]}},
    ),
    (
        "settings lone surrogate",
        {"name": "valid-name", "source": "x=1", "settings": {"introduction_message": "\ud800"}},
    ),
    ("unknown field", {"name": "valid-name", "source": "x=1", "owner": "someone"}),
    ("array body", [{"name": "valid-name", "source": "x=1"}]),
    ("string body", "hello"),
    ("null body", None),
]


@pytest.mark.parametrize(("case", "body"), BAD_CREATES, ids=[c for c, _ in BAD_CREATES])
async def test_bad_create_bodies_answer_422(
    client: httpx.AsyncClient, creator: CreatorInfo, case: str, body: Any
) -> None:
    response = await client.post(
        "/api/v1/scripts",
        content=json.dumps(body),  # ASCII, so lone surrogates travel as \ud800 escapes
        headers={**creator.headers, "content-type": "application/json"},
    )
    detail = assert_error(response, 422)["detail"]
    assert isinstance(detail, list | str)
    if isinstance(detail, list):  # sources are never echoed back
        assert all(set(error) == {"loc", "msg", "type"} for error in detail)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"name": "x", "source": ', "application/json"),
        (b"\xff\xfe not utf-8", "application/json"),
        (b"", "application/json"),
        (b"name=abc&source=x", "application/x-www-form-urlencoded"),
        (b'{"name": "valid-name", "source": "x=1"}', "text/plain"),
    ],
)
async def test_malformed_bodies_answer_422(
    client: httpx.AsyncClient, creator: CreatorInfo, content: bytes, content_type: str
) -> None:
    response = await client.post(
        "/api/v1/scripts",
        content=content,
        headers={**creator.headers, "content-type": content_type},
    )
    assert_error(response, 422)


async def test_absurdly_nested_json_answers_4xx(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    content = b'{"name": "valid-name", "source": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    response = await client.post(
        "/api/v1/scripts",
        content=content,
        headers={**creator.headers, "content-type": "application/json"},
    )
    assert 400 <= response.status_code < 500
    assert response.json()["detail"]


async def test_compile_problems_answer_422_with_positions(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    source = "x = 1\ny = _getattr_\n"
    response = await client.post(
        "/api/v1/scripts",
        json={"name": unique_name(), "source": source},
        headers=creator.headers,
    )
    body = assert_error(response, 422)
    assert isinstance(body["detail"], str)
    assert body["errors"]
    problem = body["errors"][0]
    assert set(problem) == {"line", "col", "message"}
    assert problem["line"] == 2 and problem["col"] >= 1


async def test_syntax_error_answers_422_with_its_line(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    response = await client.post(
        "/api/v1/scripts",
        json={"name": unique_name(), "source": "print(1)\nif True print(2)\n"},
        headers=creator.headers,
    )
    assert assert_error(response, 422)["errors"][0]["line"] == 2


@pytest.mark.parametrize("source", ["a\x00b", "# nul \x00\n"])
async def test_nul_bytes_in_source_answer_422(
    client: httpx.AsyncClient, creator: CreatorInfo, source: str
) -> None:
    response = await client.post(
        "/api/v1/scripts",
        json={"name": unique_name(), "source": source},
        headers=creator.headers,
    )
    assert assert_error(response, 422)["errors"]


async def test_source_over_1_mib_answers_413(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    response = await client.post(
        "/api/v1/scripts",
        json={"name": unique_name(), "source": "#" * (MAX_SOURCE_BYTES + 1)},
        headers=creator.headers,
    )
    assert str(MAX_SOURCE_BYTES) in assert_error(response, 413)["detail"]


async def test_source_of_exactly_1_mib_is_accepted(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    response = await client.post(
        "/api/v1/scripts",
        json={"name": unique_name(), "source": "#" * MAX_SOURCE_BYTES},
        headers=creator.headers,
    )
    assert response.status_code == 201


async def test_oversized_body_answers_413_json(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    big = json.dumps({"name": unique_name(), "source": "#" * (3 * 1024 * 1024)}).encode()
    declared = await client.post(
        "/api/v1/scripts",
        content=big,
        headers={**creator.headers, "content-type": "application/json"},
    )
    assert_error(declared, 413)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    streamed = await client.post(
        "/api/v1/scripts",
        content=chunks(),
        headers={**creator.headers, "content-type": "application/json"},
    )
    assert_error(streamed, 413)


async def test_settings_text_with_nul_is_kept(
    client: httpx.AsyncClient, make_script: MakeScript
) -> None:
    script = await make_script(settings={"introduction_message": "a\x00b ✓"})
    assert script["settings"]["introduction_message"] == "a\x00b ✓"


@pytest.mark.parametrize("variant", ["same", "upper", "mixed"])
async def test_taken_name_answers_409_in_any_case(
    client: httpx.AsyncClient,
    make_creator: Callable[..., CreatorInfo],
    make_script: MakeScript,
    variant: str,
) -> None:
    name = (await make_script())["name"]
    other = {"same": name, "upper": name.upper(), "mixed": name.capitalize()}[variant]
    for who in (make_creator(), make_creator()):
        response = await client.post(
            "/api/v1/scripts", json={"name": other, "source": HELLO_SOURCE}, headers=who.headers
        )
        assert "taken" in assert_error(response, 409)["detail"]


# -- patch, paths, queries -------------------------------------------------------------------

BAD_PATCHES: list[tuple[str, Any, int]] = [
    ("empty", {}, 422),
    ("source null", {"source": None}, 422),
    ("rename", {"name": "other-name"}, 422),
    ("compile error", {"source": "import os\n_write_ = 1\n"}, 422),
    ("key short", {"poe_access_key": "short"}, 422),
    ("settings bad", {"settings": {"allow_attachments": []}}, 422),
    ("source too big", {"source": "#" * (MAX_SOURCE_BYTES + 1)}, 413),
    ("array", [], 422),
]


@pytest.mark.parametrize(("case", "body", "status"), BAD_PATCHES, ids=[c for c, *_ in BAD_PATCHES])
async def test_bad_patches_answer_4xx_and_change_nothing(
    client: httpx.AsyncClient,
    creator: CreatorInfo,
    make_script: MakeScript,
    case: str,
    body: Any,
    status: int,
) -> None:
    script = await make_script(settings={"introduction_message": "kept"})
    url = f"/api/v1/scripts/{script['name']}"
    assert_error(await client.patch(url, json=body, headers=creator.headers), status)
    assert (await client.get(url, headers=creator.headers)).json() == script


@pytest.mark.parametrize(
    ("method", "suffix", "status"),
    [
        ("GET", "/versions/0", 422),
        ("GET", "/versions/-1", 422),
        ("GET", "/versions/abc", 422),
        ("GET", "/versions/1.5", 422),
        ("GET", "/versions/99999999999999999999", 422),
        ("GET", "/versions/2", 404),
        ("POST", "/versions/2/restore", 404),
        ("POST", "/versions/0/restore", 422),
        ("GET", "/versions?limit=0", 422),
        ("GET", "/versions?limit=100000", 422),
        ("GET", "/versions?limit=many", 422),
        ("GET", "/versions?offset=-1", 422),
        ("GET", "/versions?offset=99999999999999999999", 422),
        ("PUT", "", 405),
        ("POST", "", 405),
        ("DELETE", "/versions", 405),
        ("GET", "/nothing-here", 404),
    ],
)
async def test_bad_paths_and_queries_answer_json(
    client: httpx.AsyncClient,
    creator: CreatorInfo,
    make_script: MakeScript,
    method: str,
    suffix: str,
    status: int,
) -> None:
    script = await make_script()
    url = f"/api/v1/scripts/{script['name']}{suffix}"
    assert_error(await client.request(method, url, headers=creator.headers), status)


@pytest.mark.parametrize(
    "name", ["nope-" + "x" * 40, "a%00b", "%C3%A9t%C3%A9", "a'b", "a%20b", "x" * 5000, "ab"]
)
async def test_odd_names_in_paths_answer_404(
    client: httpx.AsyncClient, creator: CreatorInfo, name: str
) -> None:
    for method, suffix in [("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/versions")]:
        body = {"source": "x=1"} if method == "PATCH" else None
        response = await client.request(
            method, f"/api/v1/scripts/{name}{suffix}", json=body, headers=creator.headers
        )
        assert_error(response, 404)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nothing-here", 404),  # "/" is the web pages' home (tests/web)
        ("GET", "/api/v1", 404),
        ("GET", "/api/v2/scripts", 404),
        ("DELETE", "/api/v1/scripts", 405),
        ("PUT", "/api/v1/scripts", 405),
        ("POST", "/healthz", 405),
    ],
)
async def test_unknown_routes_and_methods_answer_json(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    assert_error(await client.request(method, path), status)


# -- the Poe endpoint: bodies that could not be stored or sent back -------------------------

FEEDBACK = '"version": "1.2", "type": "report_feedback", "user_id": "u", "conversation_id": "c"'
QUERY = '"version": "1.2", "type": "query", "user_id": "u", "conversation_id": "c"'
ERROR = '"version": "1.2", "type": "report_error", "message": "boom"'
DEEP = '{"a": ' * 300 + "1" + "}" * 300
UNSTORABLE_POE_BODIES: list[tuple[str, str, str]] = [
    (
        "feedback lone surrogate",
        f'{{{FEEDBACK}, "message_id": "\\ud800", "feedback_type": "like"}}',
        "Unicode",
    ),
    (
        "reaction lone surrogate",
        '{"version": "1.2", "type": "report_reaction", "user_id": "u", "conversation_id": "c",'
        ' "message_id": "m", "reaction": "\\udc00", "is_added": true}',
        "Unicode",
    ),
    ("error metadata key surrogate", f'{{{ERROR}, "metadata": {{"\\ud800": 1}}}}', "Unicode"),
    ("error metadata NaN", f'{{{ERROR}, "metadata": {{"x": NaN}}}}', "NaN"),
    ("error metadata Infinity", f'{{{ERROR}, "metadata": {{"x": -Infinity}}}}', "Infinity"),
    ("error metadata 1e400", f'{{{ERROR}, "metadata": {{"x": 1e400}}}}', "1e400"),
    ("error metadata 5000 digits", f'{{{ERROR}, "metadata": {{"x": {"9" * 5000}}}}}', "digits"),
    ("error metadata 300 deep", f'{{{ERROR}, "metadata": {DEEP}}}', "nested"),
    (
        "query content surrogate",
        f'{{{QUERY}, "message_id": "m", "query": [{{"role": "user", "content": "\\ud800"}}]}}',
        "Unicode",
    ),
    ("query message_id surrogate", f'{{{QUERY}, "message_id": "\\udfff", "query": []}}', "Unicode"),
]


@pytest.mark.parametrize(
    ("case", "body", "says"), UNSTORABLE_POE_BODIES, ids=[c for c, _, _ in UNSTORABLE_POE_BODIES]
)
async def test_poe_bodies_that_cannot_be_stored_answer_400(
    client: httpx.AsyncClient,
    creator: CreatorInfo,
    make_script: MakeScript,
    case: str,
    body: str,
    says: str,
) -> None:
    # These once answered 500 (surrogates, depth), or were kept and then made the script's
    # reports and runs answer 500 for good (NaN, Infinity), or lost the run's record.
    name = (await make_script())["name"]
    response = await client.post(
        f"/bots/{name}",
        content=body.encode("ascii"),
        headers={**creator.headers, "content-type": "application/json"},
    )
    assert says in assert_error(response, 400)["detail"]
    for listing in ("reports", "runs"):
        listed = await client.get(f"/api/v1/scripts/{name}/{listing}", headers=creator.headers)
        assert listed.status_code == 200, listed.text
        assert listed.json()["total"] == 0


BASE = {"version": "1.2", "user_id": "u", "conversation_id": "c"}
UNSTORABLE_POE_IDS: list[tuple[str, dict[str, Any]]] = [
    ("feedback id with NUL", {**BASE, "type": "report_feedback", "message_id": "a\x00b"}),
    ("feedback id of 256", {**BASE, "type": "report_feedback", "message_id": "m" * 256}),
    ("error id with NUL", {"version": "1.2", "type": "report_error", "message": "x"}),
    ("query id with NUL", {**BASE, "type": "query", "query": [], "message_id": "\x00"}),
    (
        "query user of 256",
        {**BASE, "type": "query", "query": [], "message_id": "m", "user_id": "u" * 256},
    ),
    (
        "query conversation with NUL",
        {**BASE, "type": "query", "query": [], "message_id": "m", "conversation_id": "c\x00"},
    ),
]


@pytest.mark.parametrize(
    ("case", "body"), UNSTORABLE_POE_IDS, ids=[c for c, _ in UNSTORABLE_POE_IDS]
)
async def test_poe_ids_that_cannot_be_stored_answer_400(
    client: httpx.AsyncClient,
    creator: CreatorInfo,
    make_script: MakeScript,
    case: str,
    body: dict[str, Any],
) -> None:
    # PostgreSQL refused them (NUL in text, over String(255)): 500, or a run left unrecorded.
    body = {"feedback_type": "like", **body}
    if body["type"] == "report_error":
        body["metadata"] = {"message_id": "m\x00"}
    name = (await make_script())["name"]
    response = await client.post(f"/bots/{name}", json=body, headers=creator.headers)
    assert "at most 255 characters" in assert_error(response, 400)["detail"]
    for listing in ("reports", "runs"):
        listed = await client.get(f"/api/v1/scripts/{name}/{listing}", headers=creator.headers)
        assert listed.json()["total"] == 0


async def test_poe_ids_of_255_characters_are_kept(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript
) -> None:
    name = (await make_script())["name"]
    body = {**BASE, "type": "report_feedback", "message_id": "m" * 255, "feedback_type": "like"}
    response = await client.post(f"/bots/{name}", json=body, headers=creator.headers)
    assert response.status_code == 200, response.text
    listed = await client.get(f"/api/v1/scripts/{name}/reports", headers=creator.headers)
    assert listed.json()["items"][0]["message_id"] == "m" * 255


async def test_a_lone_surrogate_in_a_settings_key_answers_422_and_changes_nothing(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript
) -> None:
    # It was stored silently changed into three U+FFFD instead.
    settings = '{"server_bot_dependencies": {"\\udc00": 1}}'
    headers = {**creator.headers, "content-type": "application/json"}
    name = unique_name()
    created = await client.post(
        "/api/v1/scripts",
        content=f'{{"name": "{name}", "source": "x=1", "settings": {settings}}}',
        headers=headers,
    )
    assert "Unicode" in json.dumps(assert_error(created, 422)["detail"])
    assert (await client.get(f"/api/v1/scripts/{name}", headers=creator.headers)).status_code == 404
    script = await make_script()
    patched = await client.patch(
        f"/api/v1/scripts/{script['name']}", content=f'{{"settings": {settings}}}', headers=headers
    )
    assert_error(patched, 422)
    after = await client.get(f"/api/v1/scripts/{script['name']}", headers=creator.headers)
    assert after.json()["settings"] == script["settings"]


@pytest.mark.parametrize(
    ("path", "status", "content_type"),
    [
        ("/healthz", 200, "application/json"),
        ("/api/v1/scripts", 200, "application/json"),
        ("/api/v1/scripts/no-such-script", 404, "application/json"),
        ("/files/" + "A" * 20, 404, "application/json"),
        ("/api/v1/scripts/no-such-script/run", 405, "application/json"),  # POST only
    ],
)
async def test_head_answers_as_get_without_a_body(
    client: httpx.AsyncClient, creator: CreatorInfo, path: str, status: int, content_type: str
) -> None:
    # HEAD answered 405 everywhere (RFC 9110: a server supports GET and HEAD).
    got = await client.get(path, headers=creator.headers)
    head = await client.head(path, headers=creator.headers)
    assert (head.status_code, got.status_code) == (status, status), head.text
    assert head.headers["content-type"].startswith(content_type)
    assert head.content == b""
    assert head.headers.get("content-length") == got.headers.get("content-length")


# -- transactions, last resort, database down ------------------------------------------------


async def test_a_failing_request_rolls_back_its_writes(
    settings: Settings, creator: CreatorInfo, db: Database
) -> None:
    app = create_app(settings, warm_sandbox=False)
    name = unique_name()

    @app.post("/test-only/write-then-fail")
    def write_then_fail(who: CurrentCreator, session: SessionDep) -> None:
        store.create_script(session, who.id, name, check_script_source("x=1"), {}, None)
        raise NameTaken(name)

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.post("/test-only/write-then-fail", headers=creator.headers)
    assert_error(response, 409)
    with db.transaction() as session:
        count = session.scalar(select(func.count()).where(Script.name == name))
    assert count == 0


@pytest.mark.allows_500
async def test_unexpected_errors_answer_500_json(settings: Settings) -> None:
    app = create_app(settings, warm_sandbox=False)

    @app.get("/test-only/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/test-only/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error."}


async def test_database_down_answers_503_and_not_ready(
    make_settings: Callable[..., Settings], creator: CreatorInfo
) -> None:
    app: FastAPI = create_app(
        make_settings(database_url="postgresql+psycopg://nobody@127.0.0.1:9/none"),
        warm_sandbox=False,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            ready = await http.get("/readyz")
            assert ready.json()["checks"] == {"database": "failing", "disk": "ok"}
            assert_error(ready, 503)
            assert_error(await http.get("/api/v1/scripts", headers=creator.headers), 503)
