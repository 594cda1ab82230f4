"""The contract suite's world: a real ``scriptbots serve`` process (SQLite, and PostgreSQL for
the core flow) whose bot calls go to real fastapi_poe bots on loopback (``tests/upstream.py``),
queried with the real fastapi_poe client.

Creators are made in the database (there is no REST route for them; the CLI is exercised in
tests/service); scripts through the REST API. The fastapi_poe client reports protocol
violations back to the bot it queried as ``report_error`` requests, which the server records:
at the end of the session none may have arrived, apart from those tests send on purpose.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastapi_poe as fp
import httpx
import httpx_sse
import pytest
from sqlalchemy import select

from service.store.creators import create_api_token, create_creator
from service.store.db import Database
from service.store.tables import Report, Script
from tests.conftest import TEST_SECRET_KEY, CreatorInfo, unique_name
from tests.service.processes import Server, clean_environment, free_port
from tests.upstream import Upstream, upstream

__all__ = ["upstream"]

RUN_TIMEOUT_S = 6  # short, so the time-limit tests are quick; scripts here take < 1 s
RUN_CPU_S = 2
RUN_MEMORY_MB = 384  # below the default, so the memory-limit test fills it well inside RUN_CPU_S
PROTOCOL = fp.client.PROTOCOL_VERSION
Event = tuple[str, dict[str, Any]]


@dataclass
class Service:
    """One running server and the database behind it."""

    base: str
    db: Database
    server: Server
    upstream: Upstream
    deliberate_reports: set[str] = field(default_factory=set)  # script names

    @property
    def bots_base(self) -> str:
        """fastapi_poe's ``base_url``: it appends the bot name."""
        return self.base + "/bots/"

    def creator(self) -> CreatorInfo:
        with self.db.transaction() as session:
            creator = create_creator(session, unique_name("c"))
            return CreatorInfo(creator.id, creator.name, create_api_token(session, creator))

    def script(
        self,
        creator: CreatorInfo,
        source: str,
        *,
        name: str | None = None,
        access_key: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> str:
        """A script created through the REST API; its name."""
        body: dict[str, Any] = {"name": name or unique_name("bot"), "source": source}
        if access_key is not None:
            body["poe_access_key"] = access_key
        if settings is not None:
            body["settings"] = settings
        response = httpx.post(
            f"{self.base}/api/v1/scripts", json=body, headers=creator.headers, timeout=30
        )
        assert response.status_code == 201, response.text
        return str(response.json()["name"])

    def api(self, method: str, path: str, creator: CreatorInfo, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method, f"{self.base}/api/v1{path}", headers=creator.headers, timeout=30, **kwargs
        )

    def runs(self, creator: CreatorInfo, name: str) -> list[dict[str, Any]]:
        response = self.api("GET", f"/scripts/{name}/runs", creator)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def run(self, creator: CreatorInfo, name: str, run_id: str) -> dict[str, Any]:
        response = self.api("GET", f"/scripts/{name}/runs/{run_id}", creator)
        assert response.status_code == 200, response.text
        return dict(response.json())


def query_request(
    *messages: str | fp.ProtocolMessage, message_id: str | None = None
) -> fp.QueryRequest:
    return fp.QueryRequest(
        version=PROTOCOL,
        type="query",
        query=[
            m if isinstance(m, fp.ProtocolMessage) else fp.ProtocolMessage(role="user", content=m)
            for m in messages
        ],
        user_id="u-" + secrets.token_hex(4),
        conversation_id="c-" + secrets.token_hex(4),
        message_id=message_id or "m-" + uuid.uuid4().hex,
    )


async def ask(service: Service, name: str, key: str, *messages: str | fp.ProtocolMessage) -> str:
    """The whole response, through fastapi_poe's ``get_final_response``."""
    return await fp.get_final_response(
        query_request(*messages), name, api_key=key, base_url=service.bots_base, num_tries=1
    )


async def responses(
    service: Service, name: str, key: str, text: str = "Hello"
) -> list[fp.PartialResponse]:
    """The parts, through fastapi_poe's ``get_bot_response`` (what reference 003 shows)."""
    message = fp.ProtocolMessage(role="user", content=text)
    return [
        part
        async for part in fp.get_bot_response(
            messages=[message], bot_name=name, api_key=key, base_url=service.bots_base
        )
    ]


async def sse_events(url: str, body: dict[str, Any], key: str) -> list[Event]:
    """Every event as sent, for exact assertions about the mapping."""
    return [event async for event in stream_events(url, body, key)]


async def stream_events(url: str, body: dict[str, Any], key: str) -> AsyncIterator[Event]:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(timeout=60) as client,
        httpx_sse.aconnect_sse(client, "POST", url, json=body, headers=headers) as source,
    ):
        assert source.response.status_code == 200, await source.response.aread()
        assert source.response.headers["content-type"].startswith("text/event-stream")
        async for event in source.aiter_sse():
            if event.event != "ping":
                yield event.event, json.loads(event.data)


async def bot_events(
    service: Service, name: str, key: str, *messages: str | fp.ProtocolMessage, **ids: Any
) -> list[Event]:
    body = query_request(*messages, **ids).model_dump(mode="json")
    return await sse_events(service.bots_base + name, body, key)


async def console_events(
    service: Service, creator: CreatorInfo, name: str, body: dict[str, Any]
) -> list[Event]:
    return await sse_events(f"{service.base}/api/v1/scripts/{name}/run", body, creator.token)


def text_of(events: list[Event]) -> str:
    """The response a client shows: text appended, replace_response starting over."""
    text = ""
    for event, data in events:
        if event == "text":
            text += data["text"]
        elif event == "replace_response":
            text = data["text"]
    return text


def error_of(events: list[Event]) -> dict[str, Any]:
    errors = [data for event, data in events if event == "error"]
    assert len(errors) == 1, events
    assert events[-1][0] == "done" and events[-2][0] == "error", events
    return errors[0]


# -- servers ------------------------------------------------------------------------------


def _serve(
    workdir: Path, upstream: Upstream, database_url: str, **settings: str
) -> Iterator[Service]:
    env = clean_environment(
        SCRIPTBOTS_DATABASE_URL=database_url,
        SCRIPTBOTS_SECRET_KEY=TEST_SECRET_KEY,
        SCRIPTBOTS_POE_API_BASE=upstream.base_url,
        SCRIPTBOTS_POE_FILE_UPLOAD_BASE=upstream.upload_base,
        SCRIPTBOTS_FETCH_ALLOW_PRIVATE="true",
        **{
            "SCRIPTBOTS_RUN_TIMEOUT_S": str(RUN_TIMEOUT_S),
            "SCRIPTBOTS_RUN_CPU_S": str(RUN_CPU_S),
            "SCRIPTBOTS_RUN_MEMORY_MB": str(RUN_MEMORY_MB),
            **settings,
        },
    )
    server = Server(cwd=workdir, env=env, port=free_port())
    db = Database(database_url)
    try:
        base = server.wait_until_up()
        _wait_until_ready(base)
        service = Service(base, db, server, upstream)
        yield service
        _assert_no_protocol_reports(service)
        log = server.log_path.read_text()
        assert "unhandled error" not in log, "a request reached the 500 handler"
    finally:
        server.stop()
        db.dispose()


def _wait_until_ready(base: str) -> None:
    """/readyz answers 200 once the sandbox template is warm."""
    deadline = time.monotonic() + 60
    while httpx.get(f"{base}/readyz", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the server never became ready"
        time.sleep(0.05)


def _assert_no_protocol_reports(service: Service) -> None:
    with service.db.transaction() as session:
        rows = session.execute(
            select(Script.name, Report.data).join(Script).where(Report.kind == "error")
        ).all()
    unexpected = [(name, data) for name, data in rows if name not in service.deliberate_reports]
    assert unexpected == [], "the fastapi_poe client reported protocol errors"


@pytest.fixture(scope="session")
def sqlite_service(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream
) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("contract-sqlite")
    yield from _serve(
        workdir,
        upstream,
        f"sqlite:///{workdir / 'scriptbots.db'}",
        SCRIPTBOTS_SANDBOX_SLOTS="128",  # the default: hundreds of runs at once (test_concurrency)
    )


@pytest.fixture(scope="session")
def roomy_service(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream
) -> Iterator[Service]:
    """A server whose runs may take longer: scripts that import the heavy packages on the
    lean template (before the warm one is up) spend seconds of CPU importing them."""
    workdir = tmp_path_factory.mktemp("contract-roomy")
    yield from _serve(
        workdir,
        upstream,
        f"sqlite:///{workdir / 'scriptbots.db'}",
        SCRIPTBOTS_RUN_TIMEOUT_S="60",
        SCRIPTBOTS_RUN_CPU_S="30",
        SCRIPTBOTS_RUN_DISK_MB="16",
    )


@pytest.fixture(scope="session")
def postgres_service(
    tmp_path_factory: pytest.TempPathFactory,
    upstream: Upstream,
    make_postgres_database: Callable[[], str],
) -> Iterator[Service]:
    yield from _serve(tmp_path_factory.mktemp("contract-pg"), upstream, make_postgres_database())


@pytest.fixture
def service(sqlite_service: Service) -> Service:
    """The server most tests use (SQLite)."""
    return sqlite_service


@pytest.fixture(params=["sqlite", "postgres"])
def any_service(request: pytest.FixtureRequest) -> Service:
    """Both servers: for the core flow, which must hold on either database."""
    return request.getfixturevalue(f"{request.param}_service")  # type: ignore[no-any-return]


@pytest.fixture
def creator(service: Service) -> CreatorInfo:
    return service.creator()
