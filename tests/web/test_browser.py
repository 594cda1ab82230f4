"""The pages in a real headless Chromium against a real ``scriptbots serve``: the editor,
compile errors in its gutter, the live console with markdown, and hostile output kept inert.

Playwright drives the machine's own Chromium (its browser download needs the internet,
which CI machines lack); ``make test`` installs /usr/bin/chromium. Waits are Playwright's
own, which poll against a deadline.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import unique_name
from tests.service.processes import clean_environment, free_port, serving
from tests.web.conftest import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 20_000

# Printed by a script: every way bot output could try to run code on the console's page.
HOSTILE_SOURCE = """\
print('<img src=x onerror="window.pwned=1">')
print('<script>window.pwned=2</script>')
print('[click me](javascript:window.pwned=3) and ![x](javascript:window.pwned=4)')
print('<a href="javascript:window.pwned=5">raw link</a> **still bold**')
print('`<b>code</b>` [ok](https://example.com/?a=1&b="2")')
"""

ONE_PIXEL_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0g"
    "AAAABJRU5ErkJggg=="
)
ATTACHMENT_SOURCE = f"""\
import base64
message = poe.start_message()
message.write("A picture:\\n")
picture = base64.b64decode("{ONE_PIXEL_PNG}")
message.attach_file("dot.png", picture, "image/png", is_inline=True)
message.attach_file("notes.txt", b"hello", "text/plain")
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("browser")
    env = clean_environment(
        SCRIPTBOTS_DATABASE_URL=f"sqlite:///{workdir / 'pages.sqlite'}",
        SCRIPTBOTS_SECRET_KEY=secrets.token_urlsafe(32),
    )
    with serving(cwd=workdir, env=env, port=free_port()) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs Chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    context = browser.new_context(base_url=server, viewport={"width": 1100, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _sign_up(page: Page) -> None:
    page.goto("/signup")
    page.fill("#name", unique_name("c"))
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("My scripts")


def _create(page: Page, source: str) -> str:
    name = unique_name()
    page.goto("/new")
    page.fill("#name", name)
    page.fill("#source", source)
    page.click("text=Create script")
    expect(page.locator("h1")).to_have_text(name)
    return name


def _run_console(page: Page, query: str) -> None:
    page.fill("#console-query", query)
    page.click("form[data-console] button[type=submit]")
    expect(page.locator("[data-console-status]")).to_contain_text("in", timeout=TIMEOUT_MS)


def test_write_a_script_fix_its_error_and_run_it_live(page: Page) -> None:
    _sign_up(page)
    page.goto("/new")
    name = unique_name()
    page.fill("#name", name)
    editor = page.locator("#source")
    editor.fill("")
    editor.click()
    # Typed as a person would: Enter keeps the indentation, after ":" it adds a level.
    page.keyboard.type('def greet(who):\nreturn "Hello, **" + who + "**"\n')
    page.keyboard.press("Shift+Tab")
    page.keyboard.type("print(greet(poe.query.text)\nx = 1\n")
    expect(page.locator(".editor-highlight .tok-keyword", has_text="def")).to_have_count(1)
    expect(page.locator(".editor-highlight .tok-def")).to_have_text("greet")
    expect(page.locator(".editor-highlight .tok-string").first).to_contain_text("Hello")
    expect(page.locator(".editor-gutter span", has_text="5")).to_have_count(1)
    assert "    return" in editor.input_value()

    page.click("text=Create script")
    # Refused: the problem is listed and marked in the gutter at its line; input is kept.
    expect(page.locator(".problems li")).to_have_count(1)
    line = int(page.locator(".problems li").get_attribute("data-line") or "0")
    assert line in (3, 4)
    expect(page.locator(f".editor-gutter span.has-problem >> text='{line}'")).to_have_count(1)
    assert page.locator("#name").input_value() == name
    assert "greet(poe.query.text)" in page.locator("#source").input_value()

    page.locator(".problems li a").click()
    fixed = (
        page.locator("#source")
        .input_value()
        .replace("greet(poe.query.text)", "greet(poe.query.text))")
    )
    page.fill("#source", fixed)
    page.click("text=Create script")
    expect(page.locator("h1")).to_have_text(name)
    expect(page.locator("#bot-url")).to_have_value(f"{page.url.split('/scripts')[0]}/bots/{name}")
    expect(page.locator("pre[data-highlight] .tok-keyword").first).to_have_text("def")

    _run_console(page, "browser")
    output = page.locator("[data-console-output]")
    expect(output.locator("strong")).to_have_text("browser")
    expect(output).to_contain_text("Hello, browser")
    expect(page.locator("[data-console-status]")).to_contain_text("Done")

    # The run is in the history, and its page renders the same markdown.
    page.locator("[data-console-status] a", has_text="Transcript").click()
    expect(page.locator(".response strong")).to_have_text("browser")


def test_console_shows_attachments_inline_and_listed(page: Page) -> None:
    _sign_up(page)
    _create(page, ATTACHMENT_SOURCE)
    _run_console(page, "go")
    image = page.locator("[data-console-output] img")
    expect(image).to_have_attribute("alt", "dot.png")
    assert (image.get_attribute("src") or "").startswith(page.url.split("/scripts")[0] + "/files/")
    page.wait_for_function("document.querySelector('[data-console-output] img').naturalWidth === 1")
    expect(page.locator("[data-console-files] a")).to_have_text("notes.txt")


def test_hostile_output_is_shown_as_text_and_never_runs(page: Page) -> None:
    _sign_up(page)
    _create(page, HOSTILE_SOURCE)
    _run_console(page, "go")
    output = page.locator("[data-console-output]")
    expect(output).to_contain_text('<img src=x onerror="window.pwned=1">')
    expect(output).to_contain_text("<script>window.pwned=2</script>")
    expect(output.locator("strong")).to_have_text("still bold")
    expect(output.locator("code")).to_have_text("<b>code</b>")
    assert output.locator("img, script, b").count() == 0
    hrefs = output.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs == ["https://example.com/?a=1&b=%222%22"]
    assert page.evaluate("typeof window.pwned") == "undefined"

    page.locator("[data-console-status] a", has_text="Transcript").click()
    expect(page.locator(".response")).to_contain_text("<script>window.pwned=2</script>")
    assert page.locator(".response img, .response script").count() == 0
    assert page.evaluate("typeof window.pwned") == "undefined"


def test_markdown_renderer_keeps_markup_out(page: Page) -> None:
    page.goto("/login")
    rendered = page.evaluate(
        """async () => {
            const { renderMarkdown } = await import('/static/markdown.js');
            const files = new Map([['r1', {url: 'https://cdn.example/a.png', name: 'a',
                                           content_type: 'image/png'}],
                                   ['r2', {url: 'javascript:alert(1)', name: 'b',
                                           content_type: 'image/png'}]]);
            const inputs = [
                '<svg onload=alert(1)>', '"><img src=x onerror=alert(1)>',
                '[a](javascript:alert(1))', '[a](JaVaScRiPt:alert(1))',
                '[a](data:text/html,<script>alert(1)</script>)',
                '![i][r1] ![j][r2]', '```html\\n<script>alert(1)</script>\\n```',
                '# <i>heading</i>\\n- <b>item</b>\\n> <u>quote</u>',
                '[x](https://a.b/" onmouseover="alert(1))',
            ];
            return inputs.map(text => renderMarkdown(text, {files}));
        }"""
    )
    joined = "\n".join(rendered)
    for tag in ("<svg", "<script", "<img src=x", "<i>", "<b>", "<u>"):
        assert tag not in joined  # shown as text (&lt;...), never as an element
    assert re.search(r'(href|src)="(?!https?://)', joined) is None
    assert '<img src="https://cdn.example/a.png"' in joined
    assert "<h1>&lt;i&gt;heading&lt;/i&gt;</h1>" in joined
    assert 'onmouseover="' not in joined
