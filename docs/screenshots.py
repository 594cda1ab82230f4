"""``make screenshots``: the README's pictures of the pages (docs/*.png), taken in headless
Chromium from a real ``scriptbots serve`` on a scratch database, as a new creator sees them.

Run it after changing the pages; it rewrites the PNG files it names.
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from tests.service.processes import clean_environment, free_port, serving
from tests.web.browsing import CHROMIUM, CHROMIUM_ARGS, PASSWORD, set_source

DOCS = Path(__file__).resolve().parent
SOURCE = """\
# poe: name=weather-table
import fastapi_poe as fp

poe.update_settings(fp.SettingsResponse(
    introduction_message="Ask me about a city.",
))


def table(city):
    rows = [("Mon", 18, "sun"), ("Tue", 16, "rain"), ("Wed", 20, "sun")]
    lines = ["| day | °C | sky |", "|---|---:|---|"]
    lines += [f"| {day} | {degrees} | {sky} |" for day, degrees, sky in rows]
    return "\\n".join(lines)


if __name__ == "__main__":
    city = poe.query.text.strip() or "Paris"
    print(f"**{city}**, the next three days:\\n")
    print(table(city))
    print("\\n- [x] forecast fetched\\n- [ ] umbrella packed")
"""


def _shoot(page: Page, name: str) -> None:
    page.screenshot(path=str(DOCS / f"{name}.png"), full_page=False)
    print(f"docs/{name}.png")


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        env = clean_environment(
            SCRIPTBOTS_DATABASE_URL=f"sqlite:///{Path(scratch) / 'shots.sqlite'}",
            SCRIPTBOTS_SECRET_KEY=secrets.token_urlsafe(32),
        )
        with (
            serving(cwd=Path(scratch), env=env, port=free_port()) as base,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            context = browser.new_context(
                base_url=base, viewport={"width": 1280, "height": 860}, color_scheme="light"
            )
            page = context.new_page()
            page.on("dialog", lambda dialog: dialog.accept())  # leave the unsaved editor
            page.goto("/signup")
            page.fill("#name", "alice")
            page.fill("#password", PASSWORD)
            page.fill("#password_again", PASSWORD)
            page.click("main button[type=submit]")
            page.goto("/new")
            set_source(page, SOURCE)
            page.click("text=Create script")
            expect(page.locator("h1")).to_have_text("weather-table")

            page.goto("/scripts/weather-table/edit")
            page.fill("#console-query", "Lyon")
            page.click("form[data-console] [data-run]")
            expect(page.locator("[data-console-status]")).to_contain_text("Done in")
            set_source(page, SOURCE.replace("rows = [", "rows = [\n        exec('x'),"))
            expect(page.locator("[data-editor] .cm-lintRange-error")).to_have_count(1)
            page.locator("[data-editor] .cm-lint-marker-error").first.hover()
            expect(page.locator(".cm-tooltip-lint, .cm-tooltip-hover")).not_to_have_count(0)
            _shoot(page, "workbench")

            page.goto("/scripts/weather-table")
            _shoot(page, "script-page")
            page.locator("[data-recent-runs] a", has_text="Transcript").first.click()
            _shoot(page, "run-page")

            phone = browser.new_context(
                base_url=base, viewport={"width": 390, "height": 844}, device_scale_factor=1
            )
            phone.add_cookies(context.cookies())
            small = phone.new_page()
            small.goto("/scripts/weather-table")
            _shoot(small, "phone")
            browser.close()


if __name__ == "__main__":
    main()
