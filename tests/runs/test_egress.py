"""A half-shield script's HTTP as the service performs it (service/runs/egress.py), against a
real loopback web server: the fetch rules, the operator's switches, the per-run budget, size
and time caps, header checks, and the record each request leaves (issue 10)."""

from __future__ import annotations

import gzip
import ipaddress
from collections.abc import Iterator

import pytest

from sandbox import HttpHead, HttpRefused, HttpRequest
from service.runs.attachments import IPAddress
from service.runs.egress import Egress, EgressPolicy, HttpRecord, host_patterns
from tests.webstandin import WebRecord, serve_web

OPEN = EgressPolicy(allow_private=True)


@pytest.fixture(scope="module")
def web() -> Iterator[tuple[str, WebRecord]]:
    with serve_web() as served:
        yield served


class FakeDns:
    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        sequence = self.answers[host]
        return sequence[0] if len(sequence) == 1 else sequence.pop(0)


def loopback_is_public(address: IPAddress) -> str | None:
    """127.0.0.1 stands in for the internet, 127.0.0.2 for the inside."""
    return "a private address" if address == ipaddress.ip_address("127.0.0.2") else None


def request(url: str, method: str = "GET", **fields: object) -> HttpRequest:
    headers = fields.pop("headers", [])
    return HttpRequest(1, method, url, headers, **fields)  # type: ignore[arg-type]


async def exchange(egress: Egress, req: HttpRequest) -> tuple[HttpHead, bytes]:
    parts = [part async for part in egress.http(req)]
    head = parts[0]
    assert isinstance(head, HttpHead)
    return head, b"".join(p for p in parts[1:] if isinstance(p, bytes))


async def refusal(egress: Egress, req: HttpRequest) -> HttpRefused:
    with pytest.raises(HttpRefused) as raised:
        await exchange(egress, req)
    return raised.value


# -- what goes through ------------------------------------------------------------------


async def test_a_get_streams_head_then_body_and_leaves_a_record(
    web: tuple[str, WebRecord],
) -> None:
    base, _ = web
    records: list[HttpRecord] = []
    egress = Egress(OPEN, record=records.append)
    head, body = await exchange(egress, request(base + "/hello?secret=1"))
    assert (head.status, head.reason, body) == (200, "OK", b"hello world")
    assert ["content-type", "text/plain; charset=utf-8"] in head.headers
    (record,) = records
    assert (record.method, record.path, record.status, record.bytes) == ("GET", "/hello", 200, 11)
    assert record.host == base.removeprefix("http://") and record.error is None
    assert set(record.entry()) == {
        "method",
        "host",
        "path",
        "status",
        "bytes",
        "duration_ms",
        "error",
    }


async def test_a_post_sends_its_body_and_headers_with_the_name_as_host(
    web: tuple[str, WebRecord],
) -> None:
    base, _ = web
    port = base.rsplit(":", 1)[1]
    dns = FakeDns({"api.example": [["127.0.0.1"]]})
    egress = Egress(EgressPolicy(), resolver=dns, address_policy=loopback_is_public)
    req = request(
        f"http://api.example:{port}/echo",
        "POST",
        headers=[["X-Thing", "1"], ["Host", "evil.example"], ["Content-Length", "99"]],
        body=b'{"a": 1}',
    )
    head, body = await exchange(egress, req)
    assert head.status == 200
    echoed = __import__("json").loads(body)
    assert echoed["method"] == "POST" and echoed["body"] == '{"a": 1}'
    assert echoed["host"] == f"api.example:{port}"  # the script's Host header is dropped
    assert echoed["headers"] == {"x-thing": "1"}


async def test_redirects_are_not_followed_but_returned(web: tuple[str, WebRecord]) -> None:
    base, _ = web
    head, _ = await exchange(Egress(OPEN), request(base + "/redirect?to=/hello"))
    assert head.status == 302 and ["location", "/hello"] in head.headers


async def test_a_gzip_body_arrives_decoded_without_its_encoding_headers(
    web: tuple[str, WebRecord],
) -> None:
    base, _ = web
    head, body = await exchange(Egress(OPEN), request(base + "/gzip"))
    assert body == b"squeezed " * 1000 and body != gzip.compress(body)
    names = {name.lower() for name, _ in head.headers}
    assert "content-encoding" not in names and "content-length" not in names


# -- the address rules ------------------------------------------------------------------


async def test_loopback_is_refused_unless_private_fetches_are_allowed(
    web: tuple[str, WebRecord],
) -> None:
    base, _ = web
    exc = await refusal(Egress(EgressPolicy()), request(base + "/hello"))
    assert exc.failure == "refused" and "127.0.0.1 is a loopback address" in exc.message


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[fe80::1]/",  # link-local
        "http://10.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://0x7f000001/",
        "http://localhost/",
    ],
)
async def test_internal_addresses_are_refused_before_connecting(url: str) -> None:
    exc = await refusal(Egress(EgressPolicy()), request(url))
    assert exc.failure == "refused" and "refused to fetch" in exc.message


async def test_dns_rebinding_connects_to_the_address_that_was_checked(
    web: tuple[str, WebRecord],
) -> None:
    base, _ = web
    port = base.rsplit(":", 1)[1]
    dns = FakeDns({"rebind.example": [["127.0.0.1"], ["127.0.0.2"]]})
    egress = Egress(EgressPolicy(), resolver=dns, address_policy=loopback_is_public)
    head, _ = await exchange(egress, request(f"http://rebind.example:{port}/hello"))
    assert head.status == 200 and dns.lookups == ["rebind.example"]
    # The next request (a redirect's hop, say) is checked again: now it points inside.
    exc = await refusal(egress, request(f"http://rebind.example:{port}/hello"))
    assert "127.0.0.2, a private address" in exc.message


async def test_each_hop_of_a_redirect_to_the_inside_is_refused(web: tuple[str, WebRecord]) -> None:
    base, _ = web
    port = base.rsplit(":", 1)[1]
    dns = FakeDns({"public.example": [["127.0.0.1"]], "internal.example": [["127.0.0.2"]]})
    egress = Egress(EgressPolicy(), resolver=dns, address_policy=loopback_is_public)
    inside = f"http://internal.example:{port}/hello"
    head, _ = await exchange(egress, request(f"http://public.example:{port}/redirect?to={inside}"))
    assert head.status == 302
    exc = await refusal(egress, request(inside))  # what the script's client asks next
    assert "internal.example resolves to 127.0.0.2, a private address" in exc.message


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "gopher://x/"])
async def test_only_http_and_https(url: str) -> None:
    exc = await refusal(Egress(OPEN), request(url))
    assert "only http and https" in exc.message


# -- the operator's switches ------------------------------------------------------------


async def test_half_shield_switched_off_refuses_every_request(web: tuple[str, WebRecord]) -> None:
    base, _ = web
    policy = EgressPolicy(allow_half_shield=False, allow_private=True)
    exc = await refusal(Egress(policy), request(base + "/hello"))
    assert "SCRIPTBOTS_ALLOW_HALF_SHIELD" in exc.message


async def test_egress_allow_limits_the_hosts(web: tuple[str, WebRecord]) -> None:
    base, _ = web
    port = base.rsplit(":", 1)[1]
    dns = FakeDns({"api.example.com": [["127.0.0.1"]], "other.example": [["127.0.0.1"]]})
    policy = EgressPolicy(allow_hosts=host_patterns("*.example.com, localhost"))
    egress = Egress(policy, resolver=dns, address_policy=loopback_is_public)
    head, _ = await exchange(egress, request(f"http://API.example.com:{port}/hello"))
    assert head.status == 200
    exc = await refusal(egress, request(f"http://other.example:{port}/hello"))
    assert "SCRIPTBOTS_EGRESS_ALLOW" in exc.message and dns.lookups == ["api.example.com"]


def test_host_patterns_split_on_commas_and_spaces() -> None:
    assert host_patterns(" a.com,*.B.org  c.net ") == ("a.com", "*.b.org", "c.net")
    assert host_patterns("") == ()


# -- limits -----------------------------------------------------------------------------


async def test_at_most_max_requests_per_run(web: tuple[str, WebRecord]) -> None:
    base, _ = web
    egress = Egress(EgressPolicy(allow_private=True, max_requests=2))
    for _ in range(2):
        await exchange(egress, request(base + "/hello"))
    exc = await refusal(egress, request(base + "/hello"))
    assert exc.failure == "limit" and "limit of 2 HTTP requests" in exc.message


async def test_a_huge_body_is_cut_at_the_cap(web: tuple[str, WebRecord]) -> None:
    base, _ = web
    egress = Egress(EgressPolicy(allow_private=True, max_response_bytes=300_000))
    exc = await refusal(egress, request(base + "/endless"))
    assert exc.failure == "too_large" and "larger than the limit of 300000 bytes" in exc.message


async def test_a_declared_huge_body_is_refused_before_its_head(web: tuple[str, WebRecord]) -> None:
    base, _ = web
    parts: list[object] = []
    with pytest.raises(HttpRefused) as raised:
        async for part in Egress(OPEN).http(request(base + "/claims-huge")):
            parts.append(part)
    assert parts == [] and raised.value.failure == "too_large"


async def test_a_slowloris_server_is_cut_at_the_request_time_limit(
    web: tuple[str, WebRecord],
) -> None:
    base, _ = web
    records: list[HttpRecord] = []
    policy = EgressPolicy(allow_private=True, timeout_s=1.5, idle_timeout_s=1.0)
    exc = await refusal(Egress(policy, record=records.append), request(base + "/slowloris"))
    assert exc.failure == "timeout" and "longer than 1.5 seconds" in exc.message
    assert records[0].status == 200 and 0 < records[0].bytes < 100


async def test_a_silent_server_is_cut_at_the_idle_limit(web: tuple[str, WebRecord]) -> None:
    base, _ = web
    policy = EgressPolicy(allow_private=True, idle_timeout_s=0.5)
    exc = await refusal(Egress(policy), request(base + "/slowloris?every_s=5"))
    assert exc.failure == "timeout"


# -- hostile requests -------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        [["X-A", "1\r\nX-Injected: 1"]],
        [["X-A", "1\nGET / HTTP/1.1"]],
        [["X-A\r\nX-Injected", "1"]],
        [["X A", "1"]],
        [["", "1"]],
        [["X-A", "\x00"]],
        [["X-A", "snow☃man"]],
        [["X-A", "1", "extra"]],
        [[f"X-{i}", "v"] for i in range(101)],
        [["X-Big", "v" * 70_000]],
    ],
)
async def test_header_injection_is_refused(
    web: tuple[str, WebRecord], headers: list[list[str]]
) -> None:
    base, record = web
    seen = len(record.requests)
    exc = await refusal(Egress(OPEN), request(base + "/echo", headers=headers))
    assert exc.failure == "refused" and len(record.requests) == seen


@pytest.mark.parametrize("method", ["GET /x HTTP/1.1\r\n", "G E T", "", "PO\nST"])
async def test_a_method_that_is_not_a_token_is_refused(
    web: tuple[str, WebRecord], method: str
) -> None:
    base, _ = web
    exc = await refusal(Egress(OPEN), request(base + "/echo", method))
    assert "is not an HTTP method" in exc.message


async def test_a_url_with_line_breaks_is_refused_or_encoded(web: tuple[str, WebRecord]) -> None:
    base, record = web
    try:
        head, _ = await exchange(Egress(OPEN), request(base + "/echo?a=1\r\nX-Injected: 1"))
    except HttpRefused:
        return
    assert head.status == 200
    assert not any("x-injected" in headers for _, _, headers in record.requests)
