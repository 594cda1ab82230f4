"""The HTTP clients of a service process's outgoing calls: one for bot calls to Poe, one for
uploads to Poe, shared by every run, and one TLS context for them and for attachment fetches.

Creating an ``httpx.AsyncClient`` loads the CA bundle (tens of milliseconds of CPU on the
event loop, every other stream waiting) and a new client opens new connections: per call,
that made a fan-out of 10 bot calls cost seconds (issue 15). Shared clients keep their
connections alive. What must stay per call does: the access key travels in each request's
own ``Authorization`` header (fastapi_poe sets it per request), and no cookie is ever kept,
so nothing one run's upstream answered can ride along another run's request.

Attachment fetches keep a client per hop (``attachments.py``: a connection verified for one
host name must not serve another), with the shared TLS context.
"""

from __future__ import annotations

import functools
import ssl
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

BOT_CALL_TIMEOUT_S = 600.0  # Poe's response deadline
UPLOAD_TIMEOUT_S = 120.0
CONNECT_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 1000  # 128 runs with 10 calls each in flight stay below it
MAX_KEEPALIVE = 100


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The verifying TLS context every outgoing connection uses (built once)."""
    return httpx.create_ssl_context()


def _no_cookies() -> CookieJar:
    # A CookieJar, not httpx.Cookies: the client would copy those into a jar that keeps all.
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


class SharedClient(httpx.AsyncClient):
    """An ``AsyncClient`` that keeps no cookies and that ``async with`` does not close:
    ``fastapi_poe.upload_file`` enters and leaves the session it is given. ``aclose()``
    closes it, once, when the process stops."""

    def __init__(self, **options: Any) -> None:
        super().__init__(
            verify=tls_context(),
            cookies=_no_cookies(),
            limits=httpx.Limits(
                max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE
            ),
            **options,
        )

    async def __aenter__(self) -> SharedClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


async def raise_for_status(response: httpx.Response) -> None:
    # Before the body: an HTTP error answer becomes a clear message, not an SSE parse error.
    response.raise_for_status()


def bot_call_client(timeout_s: float = BOT_CALL_TIMEOUT_S) -> SharedClient:
    """For ``fastapi_poe.stream_request``: an HTTP error status raises at once."""
    return SharedClient(
        timeout=httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S),
        event_hooks={"response": [raise_for_status]},
    )


def upload_client(timeout_s: float = UPLOAD_TIMEOUT_S) -> SharedClient:
    """For ``fastapi_poe.upload_file``, which reads the status itself."""
    return SharedClient(timeout=httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S))


class OutgoingClients:
    """A process's shared clients, made at their first use, closed by ``aclose``."""

    def __init__(self) -> None:
        self._bots: SharedClient | None = None
        self._uploads: SharedClient | None = None

    @property
    def bots(self) -> SharedClient:
        if self._bots is None:
            self._bots = bot_call_client()
        return self._bots

    @property
    def uploads(self) -> SharedClient:
        if self._uploads is None:
            self._uploads = upload_client()
        return self._uploads

    async def aclose(self) -> None:
        for client in (self._bots, self._uploads):
            if client is not None:
                await client.aclose()
        self._bots = self._uploads = None
