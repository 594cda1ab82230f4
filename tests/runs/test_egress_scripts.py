"""Half-shield scripts using requests, httpx (sync, async, streamed), urllib and aiohttp, run
in the real sandbox child, their requests performed by the service's egress against a
loopback web server (issue 10). The child never has a socket: each request crosses the
channel, and the body streams back as the script reads it."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import fastapi_poe as fp
import pytest
import pytest_asyncio

from sandbox import AttachmentInfo, BotCallRefused, BotCallRequest, SandboxPool
from sandbox.protocol import HttpHead, HttpRequest, Limits
from service.runs.attachments import IPAddress
from service.runs.egress import Egress, EgressPolicy, HttpRecord
from tests.runs.test_attachments import make_certificate
from tests.sandbox.process.harness import Outcome, run
from tests.upstream import serve_app
from tests.webstandin import WebRecord, serve_web, web_app

pytestmark = pytest.mark.asyncio(loop_scope="module")

LIMITS = Limits(timeout_s=30.0, cpu_s=10, memory_mb=512, max_output_chars=100_000)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def pool() -> AsyncIterator[SandboxPool]:
    pool = SandboxPool(slots=8, spares=1)
    await pool.start()
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
def web() -> Iterator[tuple[str, WebRecord]]:
    with serve_web() as served:
        yield served


class EgressServices:
    """RunServices whose only way out is the service's egress."""

    def __init__(self, egress: Egress) -> None:
        self.egress = egress

    async def call_bot(self, request: BotCallRequest) -> AsyncIterator[fp.PartialResponse]:
        raise BotCallRefused(request.bot_name, "no bots here")
        yield  # pragma: no cover

    def fetch(self, url: str) -> AsyncIterator[bytes]:
        raise BotCallRefused("", "no attachments here")

    async def upload(
        self, name: str, contents: object, content_type: str | None, is_inline: bool
    ) -> AttachmentInfo:
        raise BotCallRefused("", "no attachments here")

    def http(self, request: HttpRequest) -> AsyncIterator[HttpHead | bytes]:
        return self.egress.http(request)


async def half(pool: SandboxPool, source: str, base: str, egress: Egress | None = None) -> Outcome:
    services = EgressServices(egress or Egress(EgressPolicy(allow_private=True)))
    outcome = await run(
        pool,
        f"BASE = {base!r}\n" + source,
        services=services,
        limits=LIMITS,
        privacy_shield="half",
    )
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    return outcome


REQUESTS = """
import requests
print(requests.get(BASE + "/hello", timeout=5).text)
answer = requests.post(BASE + "/echo", json={"n": 1}, headers={"X-Token": "t"}).json()
print(answer["method"], answer["body"], answer["headers"])
session = requests.Session()
session.get(BASE + "/set-cookie")
print(session.get(BASE + "/echo").json()["cookie"])
print(requests.get(BASE + "/redirect?to=/hello").text, requests.get(BASE + "/gzip").text[:8])
missing = requests.get(BASE + "/status/404")
print(missing.status_code, missing.ok)
with requests.get(BASE + "/big?mb=2", stream=True) as big:
    print(sum(len(chunk) for chunk in big.iter_content(65536)))
"""


async def test_requests_get_post_sessions_redirects_and_streams(
    pool: SandboxPool, web: tuple[str, WebRecord]
) -> None:
    base, _ = web
    outcome = await half(pool, REQUESTS, base)
    assert outcome.text.split("\n\n") == [
        "hello world",
        """POST {"n": 1} {'x-token': 't'}""",
        "flavour=ginger",
        "hello world squeezed",
        "404 False",
        str(2 * 1024 * 1024),
    ]


REQUESTS_BYTES_HEADER = """
import requests
answer = requests.get(BASE + "/echo", headers={"X-Token": b"token"}).json()
print(answer["headers"])
"""


async def test_requests_sends_a_header_given_as_bytes(
    pool: SandboxPool, web: tuple[str, WebRecord]
) -> None:
    # requests keeps bytes header values as they are (http.client sends them so); they
    # crossed the channel as a bytes field where a string belongs, and the run failed.
    base, _ = web
    outcome = await half(pool, REQUESTS_BYTES_HEADER, base)
    assert outcome.text == "{'x-token': 'token'}"


HTTPX_SYNC = """
import httpx
print(httpx.get(BASE + "/hello").text)
with httpx.Client(base_url=BASE, follow_redirects=True) as client:
    print(client.post("/echo", content=b"raw", params={"q": "1"}).json()["query"])
    print(client.get("/redirect", params={"to": "/hello"}).text)
    with client.stream("GET", "/big?mb=1") as response:
        print(response.status_code, sum(len(c) for c in response.iter_bytes()))
try:
    httpx.get(BASE + "/status/500").raise_for_status()
except httpx.HTTPStatusError as exc:
    print("status error", exc.response.status_code)
"""


async def test_httpx_sync_get_post_redirects_and_streams(
    pool: SandboxPool, web: tuple[str, WebRecord]
) -> None:
    base, _ = web
    outcome = await half(pool, HTTPX_SYNC, base)
    assert outcome.text.split("\n\n") == [
        "hello world",
        "{'q': '1'}",
        "hello world",
        f"200 {1024 * 1024}",
        "status error 500",
    ]


HTTPX_SSE = """
import asyncio, json, httpx

async def main():
    words = []
    async with httpx.AsyncClient() as client:
        async with client.stream("GET", BASE + "/sse") as response:
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                words.append(json.loads(line[6:])["choices"][0]["delta"]["content"])
                if len(words) == 1:
                    # The rest is sent only once this arrives: read incrementally, or hang.
                    await client.get(BASE + "/release")
        posted = await client.post(BASE + "/echo", json={"a": 2})
    print("".join(words), posted.json()["body"])

asyncio.run(main())
"""


async def test_httpx_async_reads_a_server_sent_event_stream_incrementally(
    pool: SandboxPool, web: tuple[str, WebRecord]
) -> None:
    base, record = web
    record.release.clear()
    outcome = await half(pool, HTTPX_SSE, base)
    assert outcome.text == 'Hello {"a":2}'


URLLIB = """
import json, urllib.request, urllib.error
print(urllib.request.urlopen(BASE + "/hello", timeout=5).read().decode())
request = urllib.request.Request(BASE + "/echo", data=b"form=1", method="PUT",
                                 headers={"X-Mode": "urllib"})
with urllib.request.urlopen(request) as response:
    answer = json.loads(response.read())
    print(response.status, answer["method"], answer["body"], answer["headers"])
print(urllib.request.urlopen(BASE + "/redirect?to=/hello").read().decode())
try:
    urllib.request.urlopen(BASE + "/status/404")
except urllib.error.HTTPError as exc:
    print("HTTPError", exc.code)
"""


async def test_urllib_get_put_redirects_and_http_errors(
    pool: SandboxPool, web: tuple[str, WebRecord]
) -> None:
    base, _ = web
    outcome = await half(pool, URLLIB, base)
    assert outcome.text.split("\n\n") == [
        "hello world",
        "200 PUT form=1 {'x-mode': 'urllib'}",
        "hello world",
        "HTTPError 404",
    ]


AIOHTTP = """
import asyncio, aiohttp

async def main():
    async with aiohttp.ClientSession() as session:
        async with session.get(BASE + "/hello") as response:
            print(response.status, await response.text())
        async with session.post(BASE + "/echo", json={"b": 3}) as response:
            print((await response.json())["body"])
        async with session.get(BASE + "/redirect?to=/hello") as response:
            print(await response.text())
        async with session.get(BASE + "/big?mb=1") as response:
            size = 0
            async for chunk in response.content.iter_chunked(65536):
                size += len(chunk)
            print(size)
        async with session.get(BASE + "/status/418") as response:
            print(response.status)

asyncio.run(main())
"""


async def test_aiohttp_get_post_redirects_and_streams(
    pool: SandboxPool, web: tuple[str, WebRecord]
) -> None:
    base, _ = web
    outcome = await half(pool, AIOHTTP, base)
    assert outcome.text.split("\n\n") == [
        "200 hello world",
        '{"b": 3}',
        "hello world",
        str(1024 * 1024),
        "418",
    ]


def loopback_is_public(address: IPAddress) -> str | None:
    return "a private address" if address == ipaddress.ip_address("127.0.0.2") else None


class FixedDns:
    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    async def __call__(self, host: str, port: int) -> list[str]:
        return [self.answers[host]]


REDIRECT_INSIDE = """
import requests, httpx
for get in (requests.get, httpx.Client(follow_redirects=True).get):
    try:
        get(BASE_PUBLIC + "/redirect?to=" + INSIDE)
        print("followed")
    except Exception as exc:
        print(type(exc).__name__, "private address" in str(exc))
"""


async def test_a_redirect_to_a_private_address_is_refused_when_the_flag_is_off(
    pool: SandboxPool, web: tuple[str, WebRecord]
) -> None:
    base, _ = web
    port = base.rsplit(":", 1)[1]
    dns = FixedDns({"public.example": "127.0.0.1", "internal.example": "127.0.0.2"})
    records: list[HttpRecord] = []
    egress = Egress(
        EgressPolicy(), record=records.append, resolver=dns, address_policy=loopback_is_public
    )
    source = (
        f"BASE_PUBLIC = 'http://public.example:{port}'\n"
        f"INSIDE = 'http://internal.example:{port}/hello'\n" + REDIRECT_INSIDE
    )
    outcome = await half(pool, source, base, egress)
    assert outcome.text.split("\n\n") == ["ConnectionError True", "ConnectError True"]
    assert [(r.host.split(":")[0], r.status, r.error) for r in records] == [
        ("public.example", 302, None),
        ("internal.example", None, "refused"),
    ] * 2


LIMITED = """
import requests
try:
    requests.get(BASE + "/big?mb=1")
except requests.RequestException as exc:
    print(type(exc).__name__, "larger than the limit of 1000 bytes" in str(exc))
for n in range(3):
    try:
        requests.get(BASE + "/hello")
        print("ok")
    except requests.ConnectionError as exc:
        print("refused", "limit of 3 HTTP requests" in str(exc))
"""


async def test_count_and_size_limits_reach_the_script_as_its_clients_errors(
    pool: SandboxPool, web: tuple[str, WebRecord]
) -> None:
    base, _ = web
    egress = Egress(EgressPolicy(allow_private=True, max_requests=3, max_response_bytes=1000))
    outcome = await half(pool, LIMITED, base, egress)
    assert outcome.text.split("\n\n") == ["ChunkedEncodingError True", "ok", "ok", "refused True"]


HOSTILE = """
import requests, httpx, urllib.request
targets = [BASE + "/hello", "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/",
           "http://[::ffff:127.0.0.1]:1/", "http://2130706433/", "http://metadata.google.internal/"]
for url in targets:
    try:
        requests.get(url, timeout=5)
        print("reached", url)
    except requests.ConnectionError as exc:
        text = str(exc)
        print("refused" if "refused to fetch" in text or "cannot resolve" in text else text)
try:
    httpx.get(BASE + "/echo", headers={"X-A": "1\\r\\nX-Injected: 1"})
    print("sent")
except Exception as exc:
    print(type(exc).__name__)
"""


async def test_a_hostile_script_reaches_nothing_inside(
    pool: SandboxPool, web: tuple[str, WebRecord]
) -> None:
    base, record = web
    seen = len(record.requests)
    outcome = await half(pool, HOSTILE, base, Egress(EgressPolicy()))  # private addresses off
    lines = outcome.text.split("\n\n")
    assert lines[:6] == ["refused"] * 6, lines
    assert lines[6] in ("LocalProtocolError", "ConnectError"), lines  # httpx checks it first
    assert len(record.requests) == seen


SLOW = """
import requests, httpx
try:
    requests.get(BASE + "/slowloris", timeout=30)
except requests.RequestException as exc:
    print(type(exc).__name__)  # urllib3 words a read timeout its own way
with httpx.stream("GET", BASE + "/slowloris") as response:
    try:
        for chunk in response.iter_bytes():
            pass
    except httpx.TimeoutException as exc:
        print(type(exc).__name__, "longer than 1.5 seconds" in str(exc))
"""


async def test_a_slowloris_server_costs_a_script_its_request_time_limit_only(
    pool: SandboxPool, web: tuple[str, WebRecord]
) -> None:
    base, _ = web
    egress = Egress(EgressPolicy(allow_private=True, timeout_s=1.5, idle_timeout_s=1.0))
    outcome = await half(pool, SLOW, base, egress)
    assert outcome.text.split("\n\n") == ["ConnectionError", "ReadTimeout True"]


HTTPS_CLIENTS = """
import asyncio, aiohttp, httpx, requests, urllib.request

async def with_aiohttp():
    async with aiohttp.ClientSession() as session:
        async with session.get(SECURE + "/hello") as response:
            return await response.text()

async def with_httpx():
    async with httpx.AsyncClient() as client:
        return (await client.get(SECURE + "/hello")).text

print(requests.get(SECURE + "/hello").text, httpx.get(SECURE + "/hello").text,
      urllib.request.urlopen(SECURE + "/hello").read().decode(),
      asyncio.run(with_aiohttp()), asyncio.run(with_httpx()))
try:
    requests.get(OTHER + "/hello")
except requests.ConnectionError as exc:
    print("refused:", "certificate" in str(exc).lower() or "hostname" in str(exc).lower())
"""


async def test_https_is_verified_by_the_host_for_every_client(
    pool: SandboxPool, tmp_path: Path
) -> None:
    cert_file, key_file = make_certificate(tmp_path, "secure.example")
    with serve_app(
        web_app(WebRecord()), ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)
    ) as url:
        port = url.rsplit(":", 1)[1]
        dns = FixedDns({"secure.example": "127.0.0.1", "other.example": "127.0.0.1"})
        egress = Egress(
            EgressPolicy(),
            resolver=dns,
            ssl_context=ssl.create_default_context(cafile=str(cert_file)),
            address_policy=loopback_is_public,
        )
        source = (
            f"SECURE = 'https://secure.example:{port}'\n"
            f"OTHER = 'https://other.example:{port}'\n" + HTTPS_CLIENTS
        )
        outcome = await half(pool, source, url, egress)
    assert outcome.text.split("\n\n") == [" ".join(["hello world"] * 5), "refused: True"]


MANY_AT_ONCE = """
import asyncio, httpx

async def main():
    async with httpx.AsyncClient() as client:
        answers = await asyncio.gather(*(client.get(BASE + "/hello") for _ in range(90)))
    print(sum(a.status_code == 200 for a in answers))

asyncio.run(main())
"""


async def test_ninety_requests_at_once_all_get_their_answer(
    pool: SandboxPool, web: tuple[str, WebRecord]
) -> None:
    base, _ = web
    outcome = await half(pool, MANY_AT_ONCE, base)
    assert outcome.text == "90"
