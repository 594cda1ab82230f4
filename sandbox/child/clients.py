"""The script's HTTP clients with their transport replaced: requests, httpx, urllib, aiohttp.

Each library keeps everything it does above the wire (sessions, cookies, redirects, auth,
JSON, streaming); only the step that would open a socket is swapped for the run's
``HttpConnector`` (``egress.py``), at the narrowest place each offers: requests'
``HTTPAdapter.send``, httpx's ``HTTPTransport``/``AsyncHTTPTransport``, urllib's
``AbstractHTTPHandler.do_open``, aiohttp's connections (``aiohttp_transport.py``). A library not yet
imported is patched when it is (``_AfterImport``), so a run pays for none it does not use.
Failures become the library's own exceptions, so that a script's ``except`` clauses work.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import io
import sys
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

from sandbox.child import aiohttp_transport
from sandbox.child.egress import Head, HttpConnector, HttpFailed, HttpStream

_connector: HttpConnector | None = None


def connector() -> HttpConnector:
    assert _connector is not None, "install() runs before the script"
    return _connector


def install(chosen: HttpConnector) -> None:
    """Use ``chosen`` for every request of this process's HTTP clients (once, in the child)."""
    global _connector
    _connector = chosen
    pending: dict[str, Callable[[ModuleType], None]] = {}
    for name, patch in _PATCHES.items():
        module = sys.modules.get(name)
        if module is not None:
            patch(module)
        else:
            pending[name] = patch
    if pending:
        sys.meta_path.insert(0, _AfterImport(pending))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Patches a module right after it is first executed."""

    def __init__(self, patches: dict[str, Callable[[ModuleType], None]]) -> None:
        self._patches = patches

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        patch = self._patches.pop(fullname, None)
        if patch is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _PatchingLoader(spec.loader, patch)
        return spec


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, inner: Any, patch: Callable[[ModuleType], None]) -> None:
        self._inner = inner
        self._patch = patch

    def create_module(self, spec: Any) -> Any:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        self._patch(module)


def _open(
    method: str,
    url: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    timeout_s: float | None,
) -> HttpStream:
    return connector().open(method, url, headers, body, timeout_s)


def _body_bytes(body: Any) -> bytes:
    """A request body as the libraries hold it (bytes, text, a file, an iterable of parts)."""
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    read = getattr(body, "read", None)
    if callable(read):
        data = read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return b"".join(part.encode("utf-8") if isinstance(part, str) else bytes(part) for part in body)


def _latin1(text: str | bytes) -> str:
    """A header name or value as text: requests keeps bytes ones as given, which
    http.client would send as they are, and latin-1 carries them byte for byte."""
    return text.decode("latin-1") if isinstance(text, bytes) else text


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class _RawBody(io.RawIOBase):
    """A response body as a file: what urllib3 and urllib read from."""

    def __init__(self, stream: HttpStream) -> None:
        self._stream = stream
        self._buffer = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        if not self._buffer and not self._eof:
            try:
                self._buffer = self._stream.read()
            except HttpFailed as exc:
                if exc.failure == "timeout":
                    raise TimeoutError(exc.message) from None
                raise OSError(exc.message) from None
            self._eof = not self._buffer
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()


# -- httpx ------------------------------------------------------------------------------


def _patch_httpx(module: ModuleType) -> None:
    import httpx

    def error(exc: HttpFailed, request: httpx.Request) -> httpx.HTTPError:
        kinds: dict[str, type[httpx.TransportError]] = {
            "timeout": httpx.ReadTimeout,
            "too_large": httpx.ReadError,
            "failed": httpx.RemoteProtocolError,
        }
        return kinds.get(exc.failure, httpx.ConnectError)(exc.message, request=request)

    def timeout_s(request: httpx.Request) -> float | None:
        timeouts = request.extensions.get("timeout") or {}
        values = [v for v in map(_seconds, timeouts.values()) if v is not None]
        return max(values) if values else None

    def response(head: Head, stream: Any, request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            head.status,
            headers=head.headers,
            stream=stream,
            request=request,
            extensions={
                "http_version": head.http_version.encode(),
                "reason_phrase": head.reason.encode(),
            },
        )

    class SyncBody(httpx.SyncByteStream):
        def __init__(self, stream: HttpStream, request: httpx.Request) -> None:
            self._stream = stream
            self._request = request

        def __iter__(self) -> Iterator[bytes]:
            while True:
                try:
                    data = self._stream.read()
                except HttpFailed as exc:
                    raise error(exc, self._request) from None
                if not data:
                    return
                yield data

        def close(self) -> None:
            self._stream.close()

    class AsyncBody(httpx.AsyncByteStream):
        def __init__(self, stream: HttpStream, request: httpx.Request) -> None:
            self._stream = stream
            self._request = request

        async def __aiter__(self) -> Any:
            while True:
                try:
                    data = await self._stream.aread()
                except HttpFailed as exc:
                    raise error(exc, self._request) from None
                if not data:
                    return
                yield data

        async def aclose(self) -> None:
            self._stream.close()

    def handle_request(self: Any, request: httpx.Request) -> httpx.Response:
        try:
            stream = _open(
                request.method,
                str(request.url),
                request.headers.multi_items(),
                request.read(),
                timeout_s(request),
            )
            head = stream.head()
        except HttpFailed as exc:
            raise error(exc, request) from None
        return response(head, SyncBody(stream, request), request)

    async def handle_async_request(self: Any, request: httpx.Request) -> httpx.Response:
        try:
            stream = _open(
                request.method,
                str(request.url),
                request.headers.multi_items(),
                await request.aread(),
                timeout_s(request),
            )
            head = await stream.ahead()
        except HttpFailed as exc:
            raise error(exc, request) from None
        return response(head, AsyncBody(stream, request), request)

    module.HTTPTransport.handle_request = handle_request
    module.AsyncHTTPTransport.handle_async_request = handle_async_request


# -- requests ---------------------------------------------------------------------------


class _Original:
    """What requests' cookie handling and urllib3 read of ``http.client.HTTPResponse``."""

    def __init__(self, head: Head, method: str) -> None:
        import http.client

        self.msg = http.client.HTTPMessage()
        for name, value in head.headers:
            self.msg[name] = value
        self._method = method
        self._closed = False

    def isclosed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True


def _patch_requests(module: ModuleType) -> None:
    import requests
    import urllib3

    def error(exc: HttpFailed, request: Any) -> requests.RequestException:
        if exc.failure == "timeout":
            return requests.exceptions.ReadTimeout(exc.message, request=request)
        return requests.exceptions.ConnectionError(exc.message, request=request)

    def timeout_s(timeout: Any) -> float | None:
        if isinstance(timeout, tuple):
            values = [v for v in map(_seconds, timeout) if v is not None]
            return max(values) if values else None
        if isinstance(timeout, urllib3.Timeout):
            both = [_seconds(timeout.connect_timeout), _seconds(timeout.read_timeout)]
            return max((v for v in both if v is not None), default=None)
        return _seconds(timeout)

    def send(
        self: Any,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        method = request.method or "GET"
        try:
            answer = _open(
                method,
                request.url or "",
                [(_latin1(k), _latin1(v)) for k, v in request.headers.items()],
                _body_bytes(request.body),
                timeout_s(timeout),
            )
            head = answer.head()
        except HttpFailed as exc:
            raise error(exc, request) from None
        raw = urllib3.HTTPResponse(
            body=_RawBody(answer),
            headers=urllib3.HTTPHeaderDict(head.headers),  # repeated names kept
            status=head.status,
            reason=head.reason,
            version_string=head.http_version,
            preload_content=False,
            decode_content=False,
            original_response=_Original(head, method),  # type: ignore[arg-type]  # duck-typed
            enforce_content_length=False,
            request_method=method,
            request_url=request.url,
        )
        response: requests.Response = self.build_response(request, raw)
        return response

    module.HTTPAdapter.send = send


# -- urllib -----------------------------------------------------------------------------


def _patch_urllib(module: ModuleType) -> None:
    import http.client
    import urllib.error
    import urllib.response

    def do_open(self: Any, http_class: Any, request: Any, **connection_args: Any) -> Any:
        if not request.host:
            raise urllib.error.URLError("no host given")
        headers = dict(request.unredirected_hdrs)
        headers.update({k: v for k, v in request.headers.items() if k not in headers})
        try:
            answer = _open(
                request.get_method(),
                request.full_url,
                list(headers.items()),
                _body_bytes(request.data),
                _seconds(request.timeout),
            )
            head = answer.head()
        except HttpFailed as exc:
            raise urllib.error.URLError(exc.message) from None
        message = http.client.HTTPMessage()
        for name, value in head.headers:
            message[name] = value
        result = urllib.response.addinfourl(
            io.BufferedReader(_RawBody(answer)), message, request.full_url, head.status
        )
        # What http.client's response has and urllib's callers read (not in typeshed).
        result.msg = result.reason = head.reason  # type: ignore[attr-defined]
        return result

    module.AbstractHTTPHandler.do_open = do_open


def _patch_aiohttp(module: ModuleType) -> None:
    aiohttp_transport.patch(module, connector())


_PATCHES: dict[str, Callable[[ModuleType], None]] = {
    "httpx": _patch_httpx,  # the package: its transports' module runs before httpx is whole
    "requests.adapters": _patch_requests,
    "urllib.request": _patch_urllib,
    "aiohttp.connector": _patch_aiohttp,
}
