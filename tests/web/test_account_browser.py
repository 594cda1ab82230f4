"""The Account page in a real headless Chromium against a real ``scriptbots serve`` (issue
12): from the header to a new token (shown once, working), its revocation (then 401), and a
password change that logs out the creator's other browser but not this one."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from service.security import TOKEN_PREFIX
from tests.conftest import unique_name
from tests.web.browsing import TIMEOUT_MS, browser, page, server
from tests.web.conftest import PASSWORD

__all__ = ["browser", "page", "server"]  # the fixtures, shared with test_browser

NEW_PASSWORD = "an entirely new passphrase"


def _log_in(page: Page, name: str, password: str) -> None:
    page.goto("/login")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("main button[type=submit]")


def test_tokens_and_password_change(page: Page, browser: Browser, server: str) -> None:
    name = unique_name("c")
    page.goto("/signup")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_have_text("My scripts")

    other = browser.new_context(base_url=server)  # the same creator in another browser
    other.set_default_timeout(TIMEOUT_MS)
    elsewhere = other.new_page()
    _log_in(elsewhere, name, PASSWORD)
    expect(elsewhere.locator("h1")).to_have_text("My scripts")

    page.click("header >> text=Account")
    expect(page).to_have_url(f"{server}/account")
    expect(page.locator("#tokens")).to_have_count(0)
    page.fill("#label", "laptop")
    page.click("#new-token-form button[type=submit]")
    shown = page.locator("#new-token-value")
    expect(shown).to_be_visible()
    token = shown.input_value()
    assert token.startswith(TOKEN_PREFIX)
    expect(page.locator("#new-token button[data-copy]")).to_be_visible()  # JS shows it
    bearer = {"Authorization": f"Bearer {token}"}
    listed = page.request.get("/api/v1/tokens", headers=bearer)
    assert listed.status == 200
    assert listed.json()["items"][0]["label"] == "laptop"

    page.goto("/account")
    expect(page.locator("#new-token-value")).to_have_count(0)  # shown once
    assert token not in page.content()
    row = page.locator("#tokens tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("laptop")
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator(".notice")).to_contain_text("revoked")
    expect(page.locator("#tokens")).to_have_count(0)
    assert page.request.get("/api/v1/tokens", headers=bearer).status == 401

    page.fill("#current_password", "not the password")
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#new_password_again", NEW_PASSWORD)
    page.click("#password-form button[type=submit]")
    expect(page.locator("#current_password-error")).to_contain_text("not your current password")

    page.fill("#current_password", PASSWORD)
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#new_password_again", NEW_PASSWORD)
    page.click("#password-form button[type=submit]")
    expect(page.locator(".notice")).to_contain_text("Password changed")
    page.goto("/scripts")
    expect(page.locator("h1")).to_have_text("My scripts")  # this browser carries on

    elsewhere.goto("/scripts")
    expect(elsewhere.locator("h1")).to_have_text("Log in")  # the other one is logged out
    _log_in(elsewhere, name, PASSWORD)
    expect(elsewhere.locator(".form-error")).to_be_visible()
    _log_in(elsewhere, name, NEW_PASSWORD)
    expect(elsewhere.locator("h1")).to_have_text("My scripts")
    other.close()
