"""Attachment fetches (SPEC §8: scheme, address, pinning, redirects, size, time) against
real loopback servers, and the upload paths (Poe's upload endpoint, the service's store)."""

from __future__ import annotations

import datetime
import ipaddress
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from sandbox import Spool
from service.runs.attachments import (
    AttachmentError,
    AttachmentLimit,
    CappedUploader,
    IPAddress,
    MemoryAttachmentStore,
    PoeUploader,
    StoreUploader,
    UrlFetcher,
    fetch_attachment,
    refusal_reason,
    resolve_host,
)
from tests.upstream import Record, Upstream, serve_app, upstream_app


def ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


class FakeDns:
    """A resolver with fixed answers, counting lookups; answers may change per lookup."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        sequence = self.answers[host]
        return sequence[0] if len(sequence) == 1 else sequence.pop(0)


def loopback_is_public(address: IPAddress) -> str | None:
    """A policy for tests: 127.0.0.1 stands in for the internet, 127.0.0.2 for the inside."""
    return "a private address" if address == ip("127.0.0.2") else None


# -- the address rule -------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.1.2.3",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",  # documentation
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.1.2.3",
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "::127.0.0.1",  # IPv4-compatible (deprecated)
    ],
)
def test_internal_addresses_are_refused(address: str) -> None:
    assert refusal_reason(ip(address)) is not None


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal_reason(ip(address)) is None


def test_the_reason_names_the_kind_of_address() -> None:
    assert refusal_reason(ip("127.0.0.1")) == "a loopback address"
    assert refusal_reason(ip("169.254.1.1")) == "a link-local address"
    assert refusal_reason(ip("10.0.0.1")) == "a private address"
    assert refusal_reason(ip("::ffff:127.0.0.1")) == "a loopback address in IPv6 form"


async def test_the_system_resolver_answers_localhost() -> None:
    addresses = await resolve_host("localhost", 80)
    assert addresses and all(ip(a).is_loopback for a in addresses)


# -- fetching ---------------------------------------------------------------------------


async def test_loopback_is_refused_by_default(upstream: Upstream) -> None:
    url = upstream.root + "/files/hello.txt"
    with pytest.raises(AttachmentError) as raised:
        await fetch_attachment(url)
    assert str(raised.value) == (f"refused to fetch {url}: 127.0.0.1 is a loopback address")
    assert raised.value.bot_name == ""  # what the sandbox host expects of a fetch


async def test_loopback_is_allowed_when_private_fetches_are(upstream: Upstream) -> None:
    url = upstream.root + "/files/hello.txt"
    assert await fetch_attachment(url, allow_private=True) == b"hello world"
    assert b"".join([c async for c in UrlFetcher(allow_private=True).fetch(url)]) == b"hello world"


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "2130706433",  # 127.0.0.1 as one number
        "0x7f000001",
        "127.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "0.0.0.0",
    ],
)
async def test_every_spelling_of_loopback_is_refused(upstream: Upstream, host: str) -> None:
    url = f"http://{host}:{port_of(upstream.root)}/files/hello.txt"
    with pytest.raises(AttachmentError, match=r"refused to fetch .* an? (loopback|unspecified)"):
        await fetch_attachment(url)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a", "file:///etc/passwd", "gopher://example.com/", "data:,x"]
)
async def test_only_http_and_https_are_fetched(url: str) -> None:
    with pytest.raises(AttachmentError, match="only http and https URLs can be fetched"):
        await fetch_attachment(url)


async def test_a_name_resolving_to_a_private_address_is_refused_before_connecting() -> None:
    dns = FakeDns({"innocent.example": [["93.184.216.34", "10.0.0.7"]]})
    with pytest.raises(
        AttachmentError, match=re.escape("innocent.example resolves to 10.0.0.7, a private address")
    ):
        await fetch_attachment("http://innocent.example/x", resolver=dns)


async def test_the_checked_address_is_the_one_connected(tmp_path: Path) -> None:
    """DNS rebinding: the second answer would point inside. The fetch looks the name up once
    and connects to the address it checked, with the name in the Host header."""

    def whoami(label: str) -> FastAPI:
        app = FastAPI()

        @app.get("/")
        async def root(request: Request) -> PlainTextResponse:
            return PlainTextResponse(f"{label} {request.headers['host']}")

        return app

    with serve_app(whoami("checked")) as first:
        port = port_of(first)
        with serve_app(whoami("rebound"), host="127.0.0.2", port=port):
            dns = FakeDns({"rebind.example": [["127.0.0.1"], ["127.0.0.2"]]})
            body = await fetch_attachment(
                f"http://rebind.example:{port}/",
                resolver=dns,
                address_policy=loopback_is_public,
            )
    assert body == f"checked rebind.example:{port}".encode()
    assert dns.lookups == ["rebind.example"]


async def test_a_redirect_to_an_internal_address_is_refused(upstream: Upstream) -> None:
    port = port_of(upstream.root)
    dns = FakeDns({"public.example": [["127.0.0.1"]], "internal.example": [["127.0.0.2"]]})
    inside = f"http://internal.example:{port}/files/hello.txt"
    url = f"http://public.example:{port}/redirect?to={inside}"
    with pytest.raises(
        AttachmentError, match=re.escape("internal.example resolves to 127.0.0.2, a private")
    ):
        await fetch_attachment(url, resolver=dns, address_policy=loopback_is_public)
    direct = f"http://127.0.0.1:{port}/redirect?to=http://127.0.0.2:{port}/files/hello.txt"
    with pytest.raises(AttachmentError, match=r"127\.0\.0\.2 is a private address"):
        await fetch_attachment(direct, address_policy=loopback_is_public)


async def test_redirects_are_followed_with_each_hop_checked(upstream: Upstream) -> None:
    port = port_of(upstream.root)
    dns = FakeDns({"public.example": [["127.0.0.1"]], "cdn.example": [["127.0.0.1"]]})
    target = f"http://cdn.example:{port}/files/hello.txt"
    url = f"http://public.example:{port}/redirect?to={target}&status=307"
    hosts_before = len(upstream.record.file_hosts)
    body = await fetch_attachment(url, resolver=dns, address_policy=loopback_is_public)
    assert body == b"hello world"
    assert dns.lookups == ["public.example", "cdn.example"]
    assert upstream.record.file_hosts[hosts_before:] == [f"cdn.example:{port}"]


async def test_relative_redirects_resolve_against_the_name(upstream: Upstream) -> None:
    port = port_of(upstream.root)
    dns = FakeDns({"public.example": [["127.0.0.1"]]})
    url = f"http://public.example:{port}/redirect?to=/files/hello.txt"
    body = await fetch_attachment(url, resolver=dns, address_policy=loopback_is_public)
    assert body == b"hello world"
    assert dns.lookups == ["public.example", "public.example"]


async def test_redirect_loops_stop(upstream: Upstream) -> None:
    with pytest.raises(AttachmentError, match="more than 5 redirects"):
        await fetch_attachment(upstream.root + "/loop", allow_private=True)


async def test_http_errors_are_reported(upstream: Upstream) -> None:
    with pytest.raises(AttachmentError, match="the server answered HTTP 404"):
        await fetch_attachment(upstream.root + "/files/missing.txt", allow_private=True)


@pytest.mark.parametrize("declare", ["false", "true"])
async def test_bodies_over_the_size_cap_are_refused(upstream: Upstream, declare: str) -> None:
    url = f"{upstream.root}/big?size=300000&declare={declare}"
    with pytest.raises(AttachmentLimit, match="larger than the limit of 200000 bytes"):
        await fetch_attachment(url, allow_private=True, max_bytes=200_000)
    body = await fetch_attachment(url, allow_private=True, max_bytes=300_000)
    assert len(body) == 300_000


async def test_a_slow_server_times_out(upstream: Upstream) -> None:
    with pytest.raises(AttachmentError, match=re.escape("took longer than 0.3 seconds")):
        await fetch_attachment(upstream.root + "/sleep?s=3", allow_private=True, timeout_s=0.3)


# -- TLS on the pinned address ----------------------------------------------------------


def make_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An https upstream whose certificate is for ``pinned.example`` only."""
    cert_file, key_file = make_certificate(tmp_path, "pinned.example")
    with serve_app(
        upstream_app(Record()), ssl_certfile=str(cert_file), ssl_keyfile=str(key_file)
    ) as url:
        yield url, cert_file


async def test_tls_verifies_the_name_while_connecting_to_the_pinned_address(
    tls_server: tuple[str, Path],
) -> None:
    url, cert_file = tls_server
    trust = ssl.create_default_context(cafile=str(cert_file))
    dns = FakeDns({"pinned.example": [["127.0.0.1"]], "other.example": [["127.0.0.1"]]})
    port = port_of(url)
    body = await fetch_attachment(
        f"https://pinned.example:{port}/files/hello.txt",
        resolver=dns,
        ssl_context=trust,
        address_policy=loopback_is_public,
    )
    assert body == b"hello world"
    # Same address, another name: the certificate does not match, so no connection.
    with pytest.raises(AttachmentError, match=r"could not connect.*Hostname mismatch"):
        await fetch_attachment(
            f"https://other.example:{port}/files/hello.txt",
            resolver=dns,
            ssl_context=trust,
            address_policy=loopback_is_public,
        )


# -- uploads ----------------------------------------------------------------------------


async def test_poe_upload_returns_where_the_file_lives(upstream: Upstream) -> None:
    uploader = PoeUploader(upstream.access_key, base_url=upstream.upload_base)
    info = await uploader.upload("notes.txt", Spool.of(b"some notes"), None, False)
    assert info.name == "notes.txt"
    assert info.content_type == "text/plain"
    assert info.inline_ref is None
    assert await fetch_attachment(info.url, allow_private=True) == b"some notes"
    inline = await uploader.upload("chart.png", Spool.of(b"\x89PNG"), "image/png", True)
    assert inline.inline_ref is not None and len(inline.inline_ref) == 8


async def test_poe_upload_with_a_refused_key_fails_clearly(upstream: Upstream) -> None:
    uploader = PoeUploader("k" * 32, base_url=upstream.upload_base)
    with pytest.raises(AttachmentError, match=re.escape("uploading 'a.txt' to Poe failed: 401")):
        await uploader.upload("a.txt", Spool.of(b"x"), None, False)


async def test_the_store_keeps_attachments_under_unguessable_ids() -> None:
    store = MemoryAttachmentStore()
    uploader = StoreUploader(store, "https://bots.example/")
    info = await uploader.upload("data.csv", Spool.of(b"a,b\n"), None, False)
    prefix = "https://bots.example/files/"
    assert info.url.startswith(prefix)
    attachment_id = info.url.removeprefix(prefix)
    assert len(attachment_id) >= 32
    stored = await store.load(attachment_id)
    assert stored is not None
    assert (stored.name, stored.content_type, stored.contents) == ("data.csv", "text/csv", b"a,b\n")
    other = await uploader.upload("data.csv", Spool.of(b"a,b\n"), "application/x-thing", True)
    assert other.url != info.url and other.content_type == "application/x-thing"
    assert other.inline_ref is not None


async def test_a_response_carries_at_most_twenty_attachments() -> None:
    uploads = CappedUploader(StoreUploader(MemoryAttachmentStore(), "http://h"))
    for i in range(20):
        await uploads.upload(f"{i}.txt", Spool.of(b"x"), None, False)
    with pytest.raises(AttachmentLimit, match="at most 20 attachments"):
        await uploads.upload("21.txt", Spool.of(b"x"), None, False)


async def test_an_attachment_over_the_size_limit_is_refused() -> None:
    uploads = CappedUploader(StoreUploader(MemoryAttachmentStore(), "http://h"), max_bytes=10)
    await uploads.upload("ok.bin", Spool.of(b"x" * 10), None, False)
    with pytest.raises(AttachmentLimit, match="is 11 bytes; the limit is 10 bytes"):
        await uploads.upload("big.bin", Spool.of(b"x" * 11), None, False)
    assert uploads.count == 1


async def test_a_failed_upload_does_not_use_up_the_count(upstream: Upstream) -> None:
    uploads = CappedUploader(PoeUploader("k" * 32, base_url=upstream.upload_base), max_count=1)
    with pytest.raises(AttachmentError):
        await uploads.upload("a.txt", Spool.of(b"x"), None, False)
    assert uploads.count == 0
