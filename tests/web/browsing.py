"""Real headless Chromium against a real ``scriptbots serve``: the fixtures (``server``,
``browser``, ``page``, ``no_js_page``; conftest.py imports them) and what the browser tests
do on the pages (sign up, put text in the editor, run the console).

Playwright drives the machine's own Chromium (its browser download needs the internet,
which CI machines lack); ``make test`` installs /usr/bin/chromium. Waits are Playwright's
own, which poll against a deadline.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import unique_name
from tests.service.processes import clean_environment, free_port, serving

PASSWORD = "correct horse battery"
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
# Reports every Content-Security-Policy violation as a console message the page fixture reads.
_WATCH_CSP = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP ${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
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


def _open(browser: Browser, server: str, *, javascript: bool) -> Iterator[Page]:
    context = browser.new_context(
        base_url=server, viewport={"width": 1280, "height": 900}, java_script_enabled=javascript
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(_WATCH_CSP)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: errors.append(message.text) if message.text.startswith("CSP ") else None,
    )
    yield page
    context.close()
    # Chromium's own editing may try a style attribute inside the editor: CodeMirror
    # redraws those lines; ReDoc's menu asks for Redocly's logo from their CDN, which /redoc's
    # policy refuses on purpose. Any other refusal is a bug of the pages.
    expected = ("CSP style-src-attr inline", "CSP img-src https://cdn.redoc.ly/")
    errors = [e for e in errors if not e.startswith(expected)]
    assert not errors, f"JavaScript errors or CSP refusals on the page: {errors}"


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    yield from _open(browser, server, javascript=True)


@pytest.fixture
def no_js_page(browser: Browser, server: str) -> Iterator[Page]:
    yield from _open(browser, server, javascript=False)


def sign_up(page: Page) -> str:
    name = unique_name("c")
    page.goto("/signup")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("My scripts")
    return name


def set_source(page: Page, source: str) -> None:
    """Replace the editor's whole text (as a paste would)."""
    page.wait_for_selector("[data-editor] .cm-content")
    page.evaluate(
        """(text) => {
            const view = document.querySelector('[data-editor]').editorView;
            view.dispatch({changes: {from: 0, to: view.state.doc.length, insert: text}});
        }""",
        source,
    )


def editor_text(page: Page) -> str:
    return str(
        page.evaluate("document.querySelector('[data-editor]').editorView.state.doc.toString()")
    )


def create(page: Page, source: str, **settings: str) -> str:
    """A script made through the new-script page; ``settings`` are select fields (yes/no)."""
    name = unique_name()
    page.goto("/new")
    page.fill("#name", name)
    set_source(page, source)
    if settings:
        page.click("summary:has-text('Poe settings')")
        for field, choice in settings.items():
            page.select_option(f"#{field}", choice)
    page.click("text=Create script")
    expect(page.locator("h1")).to_have_text(name)
    return name


def run_console(page: Page, query: str) -> None:
    """Send ``query`` in the console and wait for the run to end."""
    turns = page.locator("[data-chat] .turn.bot").count()
    page.fill("#console-query", query)
    page.click("form[data-console] [data-run]")
    expect(page.locator("[data-chat] .turn.bot")).to_have_count(turns + 1)
    expect(page.locator("[data-console-status]")).to_contain_text(" s.", timeout=TIMEOUT_MS)


def last_reply(page: Page):  # type: ignore[no-untyped-def]
    return page.locator("[data-chat] .turn.bot").last
