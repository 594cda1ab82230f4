"""Attachments of a run: fetching a URL safely for a script, and storing what it attaches.

SPEC §8: the host fetches attachment URLs for the sandbox: http and https only, at most
50 MB, never from loopback, private, link-local or reserved addresses unless
``FETCH_ALLOW_PRIVATE``, and the address that was checked is the one connected to (no
second DNS lookup a rebinding server could answer differently), re-checked on every
redirect. SPEC §7: what a script attaches is uploaded to Poe with the access key when the
query came from Poe, else kept by the service (``AttachmentStore``) and served from
``PUBLIC_URL/files/{id}``; at most 20 per response and 50 MB each.
"""

from __future__ import annotations

import asyncio
import ipaddress
import mimetypes
import secrets
import socket
import ssl
import string
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import fastapi_poe as fp
import httpx

from sandbox import AttachmentInfo, BotCallRefused, Spool
from sandbox.protocol import LimitName
from service.runs.outgoing import UPLOAD_TIMEOUT_S, tls_context

MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024
MAX_ATTACHMENTS = 20
MAX_REDIRECTS = 5
FETCH_TIMEOUT_S = 60.0
FETCH_CHUNK_BYTES = 256 * 1024  # what one read of a fetched body holds at most

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
AddressPolicy = Callable[[IPAddress], str | None]  # why an address is refused, or None

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class AttachmentError(BotCallRefused):
    """A fetch or upload refused or failed; ``message`` is shown to the script. A
    ``BotCallRefused`` with no bot name, which is what the sandbox host expects."""

    def __init__(self, message: str) -> None:
        super().__init__("", message)
        self.args = (message,)


class AttachmentLimit(AttachmentError):
    def __init__(self, message: str, limit: LimitName = "output") -> None:
        super().__init__(message)
        self.limit = limit


# -- fetch ------------------------------------------------------------------------------


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise AttachmentError(f"cannot resolve {host!r}: {exc.strerror}") from None
    addresses: list[str] = []
    for *_, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def refusal_reason(ip: IPAddress) -> str | None:
    """Why a fetch may not connect to ``ip`` (SPEC §8), or None for a public address.
    IPv6 forms that carry an IPv4 address (mapped, 6to4, NAT64) are judged by that."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            reason = refusal_reason(embedded)
            return f"{reason} in IPv6 form" if reason else None
    checks = [
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    ]
    return next((reason for failed, reason in checks if failed), None)


@dataclass(frozen=True)
class PinnedTarget:
    """A request target with the checked address in place of the host name."""

    url: httpx.URL
    host_header: str
    server_name: str


async def pin_target(
    url: httpx.URL, policy: AddressPolicy | None, resolve: Resolver
) -> PinnedTarget:
    """``url`` with its host resolved, every address checked by ``policy`` (None: any is
    fine) and the first pinned; ``AttachmentError`` naming the refusal. Also egress.py's."""
    if url.scheme not in ("http", "https"):
        raise AttachmentError(f"only http and https URLs can be fetched, not {url.scheme!r}")
    host = url.raw_host.decode("ascii")
    if not host:
        raise AttachmentError(f"the URL {url} has no host")
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = [ipaddress.ip_address(a) for a in await resolve(host, port)]
    if not addresses:
        raise AttachmentError(f"{host!r} resolves to no address")
    if policy is not None:
        # Every address is checked, so that a name answering one public and one internal
        # address is refused outright rather than depending on which one comes first.
        for ip in addresses:
            reason = policy(ip)
            if reason:
                what = f"{host} is" if host == str(ip) else f"{host} resolves to {ip},"
                raise AttachmentError(f"refused to fetch {url}: {what} {reason}")
    pinned = url.copy_with(host=str(addresses[0]), username=None, password=None)
    return PinnedTarget(url=pinned, host_header=url.netloc.decode("ascii"), server_name=host)


async def stream_attachment(
    url: str,
    *,
    allow_private: bool = False,
    max_bytes: int = MAX_ATTACHMENT_BYTES,
    timeout_s: float = FETCH_TIMEOUT_S,
    max_redirects: int = MAX_REDIRECTS,
    resolver: Resolver | None = None,
    ssl_context: ssl.SSLContext | None = None,
    address_policy: AddressPolicy = refusal_reason,
) -> AsyncGenerator[bytes, None]:
    """The body at ``url`` under the SPEC §8 rules, chunk by chunk as it arrives, so that
    no body is held whole (issue 11); ``AttachmentError`` with a sentence the script can
    show when refused or failed, before or while streaming.

    The connection goes to the checked IP literal while the ``Host`` header, TLS SNI and
    certificate verification use the host name (httpx's ``sni_hostname`` extension). Each
    hop gets a fresh client so that no pooled connection verified for one name serves
    another; they share the process's TLS context (``outgoing.tls_context``), whose making
    is what costs. The time limit covers every step but the consumer's own, between chunks."""
    resolve = resolver or resolve_host
    policy = None if allow_private else address_policy
    try:
        current = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise AttachmentError(f"not a valid URL: {exc}") from None
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        for _hop in range(max_redirects + 1):
            async with asyncio.timeout_at(deadline):
                target = await pin_target(current, policy, resolve)
            async with httpx.AsyncClient(
                verify=ssl_context or tls_context(),
                trust_env=False,  # a proxy would resolve the name again
                follow_redirects=False,
                timeout=timeout_s,
            ) as client:
                request = client.build_request(
                    "GET",
                    target.url,
                    headers={"Host": target.host_header},
                    extensions={"sni_hostname": target.server_name},
                )
                async with asyncio.timeout_at(deadline):
                    response = await client.send(request, stream=True)
                try:
                    if response.has_redirect_location:
                        current = current.join(response.headers["Location"])
                        continue
                    if not response.is_success:
                        raise AttachmentError(
                            f"fetching {url} failed: the server answered HTTP "
                            f"{response.status_code}"
                        )
                    async for chunk in _capped(response, url, max_bytes, deadline):
                        yield chunk
                    return
                finally:
                    await response.aclose()
        raise AttachmentError(f"fetching {url} failed: more than {max_redirects} redirects")
    except TimeoutError:
        raise AttachmentError(f"fetching {url} took longer than {timeout_s:g} seconds") from None
    except httpx.HTTPError as exc:
        raise AttachmentError(f"fetching {url} failed: {_describe(exc)}") from None


async def fetch_attachment(url: str, **options: Any) -> bytes:
    """The whole body of ``stream_attachment(url, **options)``, for small ones."""
    return b"".join([chunk async for chunk in stream_attachment(url, **options)])


async def _capped(
    response: httpx.Response, url: str, max_bytes: int, deadline: float
) -> AsyncIterator[bytes]:
    too_big = f"{url} is larger than the limit of {max_bytes} bytes"
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise AttachmentLimit(too_big, "output")
    size = 0
    chunks = response.aiter_bytes(FETCH_CHUNK_BYTES)  # decoded: a gzip bomb is capped too
    while True:
        async with asyncio.timeout_at(deadline):
            chunk = await anext(chunks, None)
        if chunk is None:
            return
        size += len(chunk)
        if size > max_bytes:
            raise AttachmentLimit(too_big, "output")
        yield chunk


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect ({exc})" if str(exc) else "could not connect"
    if isinstance(exc, httpx.TimeoutException):
        return "the server did not answer in time"
    return str(exc) or type(exc).__name__


class UrlFetcher:
    """``RunServices.fetch`` for one run: ``stream_attachment`` with the service's settings."""

    def __init__(
        self,
        *,
        allow_private: bool,
        max_bytes: int = MAX_ATTACHMENT_BYTES,
        timeout_s: float = FETCH_TIMEOUT_S,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        own_files: OwnFiles | None = None,
    ) -> None:
        self._allow_private = allow_private
        self._max_bytes = max_bytes
        self._timeout_s = timeout_s
        self._resolver = resolver
        self._ssl_context = ssl_context
        self._own_files = own_files

    def fetch(self, url: str) -> AsyncGenerator[bytes, None]:
        if self._own_files is not None and url.startswith(self._own_files.files_url):
            return self._own_files.read(url.removeprefix(self._own_files.files_url))
        return stream_attachment(
            url,
            allow_private=self._allow_private,
            max_bytes=self._max_bytes,
            timeout_s=self._timeout_s,
            resolver=self._resolver,
            ssl_context=self._ssl_context,
        )


# -- upload -----------------------------------------------------------------------------


class Uploader(Protocol):
    async def upload(
        self, name: str, contents: Spool, content_type: str | None, is_inline: bool
    ) -> AttachmentInfo: ...


@dataclass(frozen=True)
class StoredAttachment:
    name: str
    content_type: str
    contents: bytes


class AttachmentStore(Protocol):
    """Where the service keeps attachments of runs that did not come from Poe. ``save``
    reads ``contents`` in chunks and returns an unguessable id: holding it is the
    permission to read ``/files/{id}``."""

    async def save(self, name: str, content_type: str, contents: Spool) -> str: ...

    async def load(self, attachment_id: str) -> StoredAttachment | None: ...


@dataclass(frozen=True)
class OwnFiles:
    """The service's own ``PUBLIC_URL/files/`` URLs (an upload to the test console, a file
    of an earlier run), read from its store: the public URL may be loopback, which the
    fetch rules refuse, and the file is here anyway. The id is the permission, as for
    anyone who holds the URL (SPEC §7)."""

    files_url: str
    store: AttachmentStore

    async def read(self, file_id: str) -> AsyncGenerator[bytes, None]:
        found = await self.store.load(file_id) if file_id.isascii() and "/" not in file_id else None
        if found is None:
            raise AttachmentError(f"The attachment {self.files_url}{file_id[:60]} does not exist.")
        yield found.contents


class MemoryAttachmentStore:
    """An ``AttachmentStore`` in a dict, for tests and ``scriptbots run``."""

    def __init__(self) -> None:
        self.files: dict[str, StoredAttachment] = {}

    async def save(self, name: str, content_type: str, contents: Spool) -> str:
        attachment_id = new_attachment_id()
        self.files[attachment_id] = StoredAttachment(name, content_type, contents.read())
        return attachment_id

    async def load(self, attachment_id: str) -> StoredAttachment | None:
        return self.files.get(attachment_id)


def new_attachment_id() -> str:
    """192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


def new_inline_ref() -> str:
    # The shape fastapi_poe gives inline refs: eight letters and digits.
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def guess_content_type(name: str, content_type: str | None) -> str:
    if content_type:
        return content_type
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


class StoreUploader:
    """Keeps attachments in the service's store, served from ``PUBLIC_URL/files/{id}``."""

    def __init__(self, store: AttachmentStore, public_url: str) -> None:
        self._store = store
        self._files_url = public_url.rstrip("/") + "/files/"

    async def upload(
        self, name: str, contents: Spool, content_type: str | None, is_inline: bool
    ) -> AttachmentInfo:
        kind = guess_content_type(name, content_type)
        attachment_id = await self._store.save(name, kind, contents)
        return AttachmentInfo(
            url=self._files_url + attachment_id,
            content_type=kind,
            name=name,
            inline_ref=new_inline_ref() if is_inline else None,
        )


class PoeUploader:
    """Uploads to Poe with the query's access key, through the process's shared ``session``
    (``outgoing.upload_client``) when given; the key travels in each upload's own request.

    The request is ``fastapi_poe.upload_file``'s (its endpoint, form field and answer), sent
    here because ``upload_file`` reads a file whole: this one streams the body from the
    spool, so that an upload costs the host no memory of its size (issue 11)."""

    def __init__(
        self,
        access_key: str,
        *,
        base_url: str,
        timeout_s: float = UPLOAD_TIMEOUT_S,
        session: httpx.AsyncClient | None = None,
        tries: int = 2,
    ) -> None:
        self._access_key = access_key
        self._endpoint = base_url.rstrip("/") + "/file_upload_3RD_PARTY_POST"
        self._timeout_s = timeout_s
        self._session = session
        self._tries = tries

    async def upload(
        self, name: str, contents: Spool, content_type: str | None, is_inline: bool
    ) -> AttachmentInfo:
        kind = guess_content_type(name, content_type)
        client = self._session or httpx.AsyncClient(timeout=self._timeout_s, verify=tls_context())
        failure: Exception | None = None
        try:
            for _ in range(self._tries):
                try:
                    attachment = await self._post(client, name, contents, kind)
                    break
                except (fp.client.AttachmentUploadError, httpx.HTTPError, ValueError) as exc:
                    failure = exc
            else:
                raise AttachmentError(f"uploading {name!r} to Poe failed: {failure}") from failure
        finally:
            if self._session is None:
                await client.aclose()
        return AttachmentInfo(
            url=attachment.url,
            content_type=attachment.content_type or kind,
            name=name,
            inline_ref=new_inline_ref() if is_inline else None,
        )

    async def _post(
        self, client: httpx.AsyncClient, name: str, contents: Spool, kind: str
    ) -> fp.Attachment:
        response = await client.post(
            self._endpoint,
            files={"file": (name, contents.file(), kind)},  # read in chunks as it is sent
            headers={"Authorization": self._access_key},
        )
        if response.status_code != 200:
            raise fp.client.AttachmentUploadError(
                f"{response.status_code} {response.reason_phrase}: {response.text[:500]}"
            )
        data = response.json()
        if not {"attachment_url", "mime_type"} <= set(data):
            raise fp.client.AttachmentUploadError(f"unexpected answer: {str(data)[:500]}")
        return fp.Attachment(url=data["attachment_url"], content_type=data["mime_type"], name=name)


class CappedUploader:
    """``RunServices.upload`` for one response: at most ``max_count`` attachments of at
    most ``max_bytes`` each (SPEC §7), counted here, whatever the child believes."""

    def __init__(
        self,
        inner: Uploader,
        *,
        max_count: int = MAX_ATTACHMENTS,
        max_bytes: int = MAX_ATTACHMENT_BYTES,
    ) -> None:
        self._inner = inner
        self._max_count = max_count
        self._max_bytes = max_bytes
        self.count = 0

    async def upload(
        self, name: str, contents: Spool, content_type: str | None, is_inline: bool
    ) -> AttachmentInfo:
        if contents.size > self._max_bytes:
            raise AttachmentLimit(
                f"the attachment {name!r} is {contents.size} bytes; "
                f"the limit is {self._max_bytes} bytes"
            )
        if self.count >= self._max_count:
            raise AttachmentLimit(f"a response may carry at most {self._max_count} attachments")
        self.count += 1  # reserved before the await: parallel uploads cannot overshoot
        try:
            return await self._inner.upload(name, contents, content_type, is_inline)
        except BaseException:
            self.count -= 1
            raise
