"""Page tests: a ``Visitor`` is a browser without JavaScript (cookies, forms with their CSRF
token) over the in-process app on a real SQLite file.

The pages run the same store code as the API, which ``tests/service`` proves on SQLite and
PostgreSQL; here SQLite alone keeps the web suite quick.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from html import unescape
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from service.web_session import COOKIE_NAME
from tests.conftest import unique_name

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="session")
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@dataclass
class Visitor:
    """One browser: its cookies, and the CSRF token of the last page it saw."""

    http: httpx.AsyncClient
    name: str = ""
    csrf: str = ""
    last: httpx.Response | None = field(default=None, repr=False)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.get(path, headers={"Accept": "text/html"}, **kwargs)
        self._saw(response)
        return response

    async def post(
        self,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        files: dict[str, Any] | None = None,
        csrf: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Submit a form, with the CSRF token of the last page unless ``csrf`` is given
        (``csrf=""`` leaves it out)."""
        body = dict(data or {})
        token = self.csrf if csrf is None else csrf
        if token:
            body["csrf_token"] = token
        response = await self.http.post(
            path, data=body, files=files, headers={"Accept": "text/html", **(headers or {})}
        )
        self._saw(response)
        return response

    async def signup(self, name: str | None = None, password: str = PASSWORD) -> httpx.Response:
        self.name = name or unique_name("c")
        await self.get("/signup")
        form = {"name": self.name, "password": password, "password_again": password}
        return await self.post("/signup", form)

    async def login(self, name: str, password: str = PASSWORD) -> httpx.Response:
        await self.get("/login")
        return await self.post("/login", {"name": name, "password": password})

    async def create_script(self, source: str = 'print("hi")\n', **fields: str) -> str:
        """A script made through the new-script form; returns its name."""
        name = fields.pop("name", None) or unique_name()
        await self.get("/new")
        response = await self.post("/scripts", {"name": name, "source": source, **fields})
        assert response.status_code == 303, response.text
        return name

    @property
    def session_cookie(self) -> str | None:
        return self.http.cookies.get(COOKIE_NAME)

    def _saw(self, response: httpx.Response) -> None:
        self.last = response
        found = (
            _CSRF.search(response.text)
            if "html" in response.headers.get("content-type", "")
            else None
        )
        if found:
            self.csrf = unescape(found.group(1))


MakeVisitor = Callable[..., Awaitable[Visitor]]


@pytest.fixture
async def make_visitor(app: FastAPI) -> AsyncIterator[MakeVisitor]:
    clients: list[httpx.AsyncClient] = []

    async def make(address: str = "127.0.0.1") -> Visitor:
        """A browser at client ``address`` (logins are rate-limited per address)."""
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(address, 50000)),
            base_url="http://testserver",
        )
        clients.append(http)
        return Visitor(http)

    yield make
    for http in clients:
        await http.aclose()


@pytest.fixture
async def visitor(make_visitor: MakeVisitor) -> Visitor:
    """A signed-up, logged-in creator."""
    visitor = await make_visitor()
    response = await visitor.signup()
    assert response.status_code == 303, response.text
    return visitor


# The browser tests' fixtures (a real server and Chromium), made only when a test asks.
from tests.web.browsing import browser, no_js_page, page, server  # noqa: E402, F401
