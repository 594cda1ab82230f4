"""Read-only listings highlighted by Pygments (sources, diffs) with every token escaped;
the bot URL's page through the page templates with the pages' security headers; the
script page's warning while PUBLIC_URL is not reachable from Poe (issue 13)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from service.app import create_app
from service.routes.pages.diffs import diff_rows
from service.routes.pages.listings import MAX_HIGHLIGHTED_CHARS, highlighted_lines, source_lines
from service.routes.pages.scripts import unreachable_reason
from service.settings import Settings
from tests.web.conftest import MakeVisitor, Visitor

SOURCE = '''\
import json


@poe.tool
def greet(who):
    """Says hello.

    <b>twice</b>"""
    return f"Hello, {who}! </pre><script>alert(1)</script>"  # 42 <i>
'''


def test_each_line_is_a_complete_fragment_in_its_place() -> None:
    lines = highlighted_lines(SOURCE)
    assert len(lines) == len(source_lines(SOURCE)) == 9
    assert lines[0].startswith('<span class="kn">import</span>')
    assert lines[0].endswith('<span class="nn">json</span>')
    assert '<span class="nd">@poe</span>' in lines[3]
    assert '<span class="nf">greet</span>' in lines[4]
    for line in lines:  # spans open and close on their own line; the source's tags are text
        assert line.count("<span") == line.count("</span>")
        assert "<script" not in line and "<b>" not in line and "<i>" not in line
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in lines[8]


def test_odd_and_huge_sources_keep_their_lines() -> None:
    for source in ("", "\n\n", "a\x0cb\n", "x = '''\n\n'''\n", "\tif x:\n\t\ty\n"):
        assert len(highlighted_lines(source)) == len(source_lines(source))
    huge = "x = '<b>'\n" * (MAX_HIGHLIGHTED_CHARS // 8)
    lines = highlighted_lines(huge)
    assert lines[0] == "x = &#39;&lt;b&gt;&#39;"  # plain, escaped


def test_diff_rows_carry_highlighted_lines() -> None:
    rows = diff_rows("a = 1\nb = '<x>'\n", "a = 2\nb = '<x>'\n")
    removed = next(r for r in rows if r.kind == "removed")
    assert removed.old_line == 1 and '<span class="mi">1</span>' in removed.text
    same = next(r for r in rows if r.kind == "same")
    assert "&lt;x&gt;" in same.text


async def test_script_and_version_pages_show_highlighted_sources(visitor: Visitor) -> None:
    name = await visitor.create_script(SOURCE.replace("@poe.tool\n", ""))
    page = await visitor.get(f"/scripts/{name}")
    assert '<span class="k">def</span>' in page.text
    assert "<script>alert(1)</script>" not in page.text
    await visitor.get(f"/scripts/{name}/edit")
    await visitor.post(f"/scripts/{name}/edit", {"source": SOURCE.replace("42", "43")})
    diff = await visitor.get(f"/scripts/{name}/versions/2")
    assert '<span class="c1"># 43 &lt;i&gt;</span>' in diff.text
    assert '<span class="c1"># 42 &lt;i&gt;</span>' in diff.text


@pytest.mark.parametrize(
    ("url", "reachable"),
    [
        ("http://127.0.0.1:8000", False),
        ("http://localhost:8000", False),
        ("http://192.168.1.5", False),
        ("http://[::1]:8000", False),
        ("http://10.0.0.2", False),
        ("http://myhost:8000", False),
        ("https://bots.example.com", True),
        ("https://93.184.216.34", True),
    ],
)
def test_unreachable_public_urls_are_named(url: str, reachable: bool) -> None:
    assert (unreachable_reason(url) is None) is reachable


@pytest.fixture
async def public_app(make_settings: Callable[..., Settings]) -> AsyncIterator[FastAPI]:
    app = create_app(make_settings(public_url="https://bots.example.com", allow_signup=True))
    async with app.router.lifespan_context(app):
        yield app


async def test_the_script_page_warns_while_poe_cannot_reach_it(
    visitor: Visitor, make_visitor: MakeVisitor, public_app: FastAPI
) -> None:
    name = await visitor.create_script()
    page = await visitor.get(f"/scripts/{name}")
    assert 'id="unreachable"' in page.text and "loopback" in page.text
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=public_app), base_url="http://testserver"
    ) as http:
        public = Visitor(http)
        await public.signup()
        other = await public.create_script()
        assert 'id="unreachable"' not in (await public.get(f"/scripts/{other}")).text


async def test_the_bot_page_is_a_page_with_the_security_headers(visitor: Visitor) -> None:
    name = await visitor.create_script()
    response = await visitor.http.get(f"/bots/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert f"/bots/{name}" in response.text and "poe.com/create_bot" in response.text
    assert '<link rel="stylesheet"' in response.text  # the pages' layout
    missing = await visitor.http.get("/bots/nobody-here", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and missing.json()["detail"]
