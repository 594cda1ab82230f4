"""A half-shield script's own HTTP requests, performed by the service for its run (issue 10).

The attachment fetcher's address rules apply (``attachments.pin_target``: http and https
only, public addresses only unless ``FETCH_ALLOW_PRIVATE``, the checked address is the one
connected to, TLS verified for the name). Redirects are not followed here: the script's
client follows them, each hop a request of its own, checked again and counted. On top: the
operator's switch (``ALLOW_HALF_SHIELD``) and host patterns (``EGRESS_ALLOW``), at most
``RUN_MAX_HTTP_REQUESTS`` per run, request headers checked (no injected lines, no framing
headers of the script's own), the response streamed in chunks and capped in size and time.
Each request leaves one ``HttpRecord`` (method, host, path, status, bytes, duration), never
its headers or bodies.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import re
import ssl
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import asdict, dataclass

import httpx

from sandbox import HttpHead, HttpRefused, HttpRequest
from service.runs.attachments import (
    AddressPolicy,
    AttachmentError,
    Resolver,
    pin_target,
    refusal_reason,
    resolve_host,
)
from service.settings import Settings

MAX_RESPONSE_BYTES = 50 * 1024 * 1024  # as an attachment (SPEC §8)
MAX_REQUEST_BYTES = 16 * 1024 * 1024
REQUEST_TIMEOUT_S = 300.0  # one request, head to last byte (an LLM's long stream fits)
IDLE_TIMEOUT_S = 60.0  # connecting, and between two reads: a slowloris server stops here
MAX_HEADERS = 100
MAX_HEADER_BYTES = 64 * 1024
MAX_PATH_CHARS = 200  # of a record

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Framing and routing are the service's: the connection it opens, the body it sends.
_REQUEST_DROPPED = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
        "expect",
    }
)
# The child receives the body decoded, in its own chunks.
_RESPONSE_DROPPED = frozenset({"transfer-encoding", "connection", "keep-alive", "content-encoding"})

HALF_SHIELD_OFF = (
    "this service does not let scripts make HTTP requests of their own: its operator "
    "turned half shield off (SCRIPTBOTS_ALLOW_HALF_SHIELD)"
)


@dataclass(frozen=True)
class EgressPolicy:
    """What a half-shield run may reach, from the settings (tests pass their own)."""

    allow_half_shield: bool = True
    allow_private: bool = False
    allow_hosts: tuple[str, ...] = ()  # fnmatch patterns of host names; empty: any
    max_requests: int = 100
    max_response_bytes: int = MAX_RESPONSE_BYTES
    max_request_bytes: int = MAX_REQUEST_BYTES
    timeout_s: float = REQUEST_TIMEOUT_S
    idle_timeout_s: float = IDLE_TIMEOUT_S

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressPolicy:
        return cls(
            allow_half_shield=settings.allow_half_shield,
            allow_private=settings.fetch_allow_private,
            allow_hosts=host_patterns(settings.egress_allow),
            max_requests=settings.run_max_http_requests,
        )

    def allows_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return not self.allow_hosts or any(
            fnmatch.fnmatchcase(host, pattern) for pattern in self.allow_hosts
        )


def host_patterns(text: str) -> tuple[str, ...]:
    """``EGRESS_ALLOW``: patterns separated by commas or spaces, compared in lower case."""
    return tuple(p.lower() for p in re.split(r"[,\s]+", text.strip()) if p)


@dataclass(frozen=True)
class HttpRecord:
    """One request in the run's transcript: never its headers, query string or bodies."""

    method: str
    host: str
    path: str
    status: int | None
    bytes: int
    duration_ms: int
    error: str | None = None

    def entry(self) -> dict[str, object]:
        return asdict(self)


class Egress:
    """``RunServices.http`` for one run."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        record: Callable[[HttpRecord], None] | None = None,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        address_policy: AddressPolicy = refusal_reason,
    ) -> None:
        self.policy = policy
        self.count = 0
        self._record = record
        self._resolve = resolver or resolve_host
        self._ssl_context = ssl_context
        self._address_policy = None if policy.allow_private else address_policy

    async def http(self, request: HttpRequest) -> AsyncGenerator[HttpHead | bytes, None]:
        """The response's head, then its body in chunks; ``HttpRefused`` when refused."""
        started = time.monotonic()
        method, url = request.method, _parse(request.url)
        host = url.raw_host.decode("ascii", "replace").lower()
        shown_host = host if url.port is None else f"{host}:{url.port}"
        status: int | None = None
        size = 0
        failure: str | None = None
        try:
            self._admit(request, url, host)
            headers = _request_headers(request.headers)
            target = await pin_target(url, self._address_policy, self._resolve)
            idle_s = self.policy.idle_timeout_s
            if request.timeout_s is not None and request.timeout_s > 0:
                idle_s = min(idle_s, request.timeout_s)
            deadline = asyncio.get_running_loop().time() + self.policy.timeout_s
            async with httpx.AsyncClient(
                verify=self._ssl_context or _verifying_context(),
                trust_env=False,  # a proxy would resolve the name again
                follow_redirects=False,
                timeout=httpx.Timeout(idle_s),
            ) as client:
                outgoing = client.build_request(
                    method,
                    target.url,
                    headers=[(b"Host", target.host_header.encode("ascii")), *headers],
                    content=request.body,
                    extensions={"sni_hostname": target.server_name},
                )
                async with asyncio.timeout_at(deadline):
                    response = await client.send(outgoing, stream=True)
                try:
                    status = response.status_code
                    yield self._head(response, request.url)
                    chunks = response.aiter_bytes()  # decoded: a gzip bomb is capped too
                    while True:
                        async with asyncio.timeout_at(deadline):
                            chunk = await anext(chunks, None)
                        if chunk is None:
                            break
                        size += len(chunk)
                        if size > self.policy.max_response_bytes:
                            raise _too_large(request.url, self.policy.max_response_bytes)
                        yield chunk
                finally:
                    await response.aclose()
        except HttpRefused as exc:
            failure = exc.failure
            raise
        except AttachmentError as exc:
            failure = "refused"
            raise HttpRefused(exc.message, "refused") from None
        except TimeoutError:
            failure = "timeout"
            raise HttpRefused(
                f"{method} {request.url} took longer than {self.policy.timeout_s:g} seconds",
                "timeout",
            ) from None
        except httpx.HTTPError as exc:
            failure, message = _describe(exc)
            raise HttpRefused(f"{method} {request.url} failed: {message}", failure) from None
        except (GeneratorExit, asyncio.CancelledError):
            failure = "cancelled"
            raise
        finally:
            if self._record is not None:
                self._record(
                    HttpRecord(
                        method=method[:16],
                        host=shown_host[:255],
                        path=url.path[:MAX_PATH_CHARS],
                        status=status,
                        bytes=size,
                        duration_ms=round((time.monotonic() - started) * 1000),
                        error=failure,
                    )
                )

    def _admit(self, request: HttpRequest, url: httpx.URL, host: str) -> None:
        if not self.policy.allow_half_shield:
            raise HttpRefused(HALF_SHIELD_OFF, "refused")
        if self.count >= self.policy.max_requests:
            raise HttpRefused(
                f"the run reached its limit of {self.policy.max_requests} HTTP requests "
                "(SCRIPTBOTS_RUN_MAX_HTTP_REQUESTS)",
                "limit",
            )
        self.count += 1
        if not _TOKEN.fullmatch(request.method):
            raise HttpRefused(f"{request.method[:40]!r} is not an HTTP method", "refused")
        if url.scheme not in ("http", "https"):
            raise HttpRefused(
                f"only http and https URLs can be requested, not {url.scheme!r}", "refused"
            )
        if not host:
            raise HttpRefused(f"the URL {request.url[:200]!r} has no host", "refused")
        if not self.policy.allows_host(host):
            raise HttpRefused(
                f"refused to request {request.url}: {host} is not among the hosts this "
                "service lets scripts reach (SCRIPTBOTS_EGRESS_ALLOW)",
                "refused",
            )
        if len(request.body) > self.policy.max_request_bytes:
            raise HttpRefused(
                f"a request body may have at most {self.policy.max_request_bytes} bytes",
                "too_large",
            )

    def _head(self, response: httpx.Response, url: str) -> HttpHead:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.policy.max_response_bytes:
            raise _too_large(url, self.policy.max_response_bytes)
        encoded = "content-encoding" in response.headers
        headers = [
            [name, value]
            for name, value in response.headers.multi_items()
            if name.lower() not in _RESPONSE_DROPPED
            and not (encoded and name.lower() == "content-length")
        ]
        return HttpHead(
            request_id=0,  # the relay sets the child's id
            status=response.status_code,
            reason=response.reason_phrase,
            headers=headers,
            http_version=response.http_version,
        )


@functools.cache
def _verifying_context() -> ssl.SSLContext:
    """One certificate-verifying context for every request: building one loads the CA
    bundle, which costs more than a whole request to a nearby server."""
    return httpx.create_ssl_context()


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise HttpRefused(f"not a valid URL: {exc}", "refused") from None
    return parsed


def _request_headers(pairs: list[list[str]]) -> list[tuple[bytes, bytes]]:
    """The script's headers as bytes, each name a token and no value with a line break:
    a header cannot smuggle another header or a second request."""
    if len(pairs) > MAX_HEADERS:
        raise HttpRefused(f"a request may have at most {MAX_HEADERS} headers", "refused")
    headers: list[tuple[bytes, bytes]] = []
    total = 0
    for pair in pairs:
        if len(pair) != 2:
            raise HttpRefused("a header is a name and a value", "refused")
        name, value = pair
        if not _TOKEN.fullmatch(name):
            raise HttpRefused(f"{name[:40]!r} is not a valid header name", "refused")
        if _BAD_VALUE.search(value):
            raise HttpRefused(f"the value of the header {name} has control characters", "refused")
        try:
            encoded = value.encode("latin-1")
        except UnicodeEncodeError:
            raise HttpRefused(f"the value of the header {name} is not Latin-1", "refused") from None
        total += len(name) + len(encoded)
        if total > MAX_HEADER_BYTES:
            raise HttpRefused(
                f"request headers may have at most {MAX_HEADER_BYTES} bytes", "refused"
            )
        if name.lower() not in _REQUEST_DROPPED:
            headers.append((name.encode("ascii"), encoded))
    return headers


def _too_large(url: str, limit: int) -> HttpRefused:
    return HttpRefused(
        f"the response of {url} is larger than the limit of {limit} bytes", "too_large"
    )


def _describe(exc: httpx.HTTPError) -> tuple[str, str]:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", "the server did not answer in time"
    if isinstance(exc, httpx.ConnectError):
        return "connect", f"could not connect ({exc})" if str(exc) else "could not connect"
    return "failed", str(exc) or type(exc).__name__
