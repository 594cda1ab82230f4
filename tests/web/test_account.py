"""The Account page over HTTP (issue 12): password change (current password required, the
password rule, every other session ended, this one kept), API tokens listed without their
secret, a new one shown once, revoke; CSRF on every form; another creator's token 404."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from service.store.db import Database
from service.store.tables import AuditEvent, Creator
from service.web_session import COOKIE_NAME
from tests.web.conftest import PASSWORD, MakeVisitor, Visitor

NEW_PASSWORD = "a much newer secret phrase"
_NEW_TOKEN = re.compile(r'id="new-token-value" type="text" readonly value="([^"]+)"')
_TOKEN_IDS = re.compile(r'data-token-id="(\d+)"')


def change(current: str, new: str, again: str | None = None) -> dict[str, str]:
    return {
        "current_password": current,
        "new_password": new,
        "new_password_again": new if again is None else again,
    }


async def new_token(visitor: Visitor, label: str = "") -> str:
    await visitor.get("/account")
    response = await visitor.post("/account/tokens", {"label": label})
    assert response.status_code == 200, response.text
    found = _NEW_TOKEN.search(response.text)
    assert found, response.text
    return found.group(1)


async def test_the_header_links_to_the_account_page(visitor: Visitor) -> None:
    scripts = await visitor.get("/scripts")
    assert 'href="/account"' in scripts.text
    page = await visitor.get("/account")
    assert page.status_code == 200
    assert "Change password" in page.text and "API tokens" in page.text


async def test_logged_out_goes_to_login(make_visitor: MakeVisitor) -> None:
    stranger = await make_visitor()
    response = await stranger.get("/account")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account"


async def test_password_change_ends_every_other_session(
    make_visitor: MakeVisitor, visitor: Visitor, db: Database
) -> None:
    other = await make_visitor()
    assert (await other.login(visitor.name)).status_code == 303
    copy = await make_visitor()
    copy.http.cookies.set(COOKIE_NAME, visitor.session_cookie or "")

    await visitor.get("/account")
    response = await visitor.post("/account/password", change(PASSWORD, NEW_PASSWORD))
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    page = await visitor.get("/account")
    assert page.status_code == 200  # this session carries on
    assert "Password changed" in page.text

    for ended in (other, copy):  # another login and a copy of this very cookie
        assert (await ended.get("/scripts")).status_code == 303
    fresh = await make_visitor()
    assert (await fresh.login(visitor.name, PASSWORD)).status_code == 400
    assert (await fresh.login(visitor.name, NEW_PASSWORD)).status_code == 303
    with db.transaction() as session:
        actions = session.scalars(
            select(AuditEvent.action)
            .join(Creator, Creator.id == AuditEvent.creator_id)
            .where(Creator.name == visitor.name)
        ).all()
    assert "password.changed" in actions


async def test_the_current_password_is_required(visitor: Visitor) -> None:
    await visitor.get("/account")
    response = await visitor.post("/account/password", change("not my password", NEW_PASSWORD))
    assert response.status_code == 400
    assert "not your current password" in response.text
    assert (await visitor.post("/account/password", change("", NEW_PASSWORD))).status_code == 400
    assert (await visitor.get("/scripts")).status_code == 200  # nothing ended


async def test_the_password_rule_and_the_repeat(visitor: Visitor) -> None:
    await visitor.get("/account")
    for new, needle in (
        ("short", "at least 10 characters"),
        ("password123", "too easy to guess"),
        (f"{visitor.name}-forever", "too easy to guess"),
    ):
        response = await visitor.post("/account/password", change(PASSWORD, new))
        assert response.status_code == 400, new
        assert needle in response.text, new
    response = await visitor.post(
        "/account/password", change(PASSWORD, NEW_PASSWORD, "something else entirely")
    )
    assert response.status_code == 400
    assert "differ" in response.text
    assert (await visitor.get("/scripts")).status_code == 200


async def test_guessing_the_current_password_is_throttled(visitor: Visitor) -> None:
    await visitor.get("/account")
    for _ in range(6):  # the account's free failures, then one that starts the back-off
        response = await visitor.post("/account/password", change("a wrong guess", NEW_PASSWORD))
        assert response.status_code == 400
    response = await visitor.post("/account/password", change(PASSWORD, NEW_PASSWORD))
    assert response.status_code == 429  # even the right one, during the back-off
    assert int(response.headers["retry-after"]) >= 1
    assert "Too many failed logins" in response.text


async def test_forms_need_their_csrf_token(visitor: Visitor) -> None:
    await visitor.get("/account")
    for path, form in (
        ("/account/password", change(PASSWORD, NEW_PASSWORD)),
        ("/account/tokens", {"label": "x"}),
        ("/account/tokens/1/revoke", {}),
    ):
        assert (await visitor.post(path, form, csrf="")).status_code == 403, path
        assert (await visitor.post(path, form, csrf="forged" * 8)).status_code == 403, path
    fresh = await visitor.get("/account")
    assert _TOKEN_IDS.findall(fresh.text) == []  # no token was made
    assert (await visitor.get("/scripts")).status_code == 200  # nor the password changed


async def test_tokens_new_shown_once_and_revoked(
    visitor: Visitor, client: httpx.AsyncClient
) -> None:
    token = await new_token(visitor, "ci <deploy>")
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/scripts", headers=bearer)).status_code == 200
    page = await visitor.get("/account")
    assert token not in page.text  # shown once
    assert "ci &lt;deploy&gt;" in page.text
    ids = _TOKEN_IDS.findall(page.text)
    assert len(ids) == 1
    assert "never" not in page.text.split(f'data-token-id="{ids[0]}"')[1].split("</tr>")[0]

    response = await visitor.post(f"/account/tokens/{ids[0]}/revoke")
    assert response.status_code == 303
    page = await visitor.get("/account")
    assert f"API token {ids[0]} revoked" in page.text
    assert _TOKEN_IDS.findall(page.text) == []
    assert (await client.get("/api/v1/scripts", headers=bearer)).status_code == 401


async def test_another_creators_token_cannot_be_revoked(
    make_visitor: MakeVisitor, visitor: Visitor, client: httpx.AsyncClient
) -> None:
    token = await new_token(visitor)
    token_id = _TOKEN_IDS.findall((await visitor.get("/account")).text)[0]
    other = await make_visitor()
    await other.signup()
    await other.get("/account")
    response = await other.post(f"/account/tokens/{token_id}/revoke")
    assert response.status_code == 404
    assert "not yours" in response.text
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/scripts", headers=bearer)).status_code == 200
    for bad in ("0", "abc", str(2**64)):
        assert (await other.post(f"/account/tokens/{bad}/revoke")).status_code in (404, 422)


async def test_a_bad_label_is_refused(visitor: Visitor) -> None:
    await visitor.get("/account")
    for label in ("x" * 101, "two\nlines"):
        response = await visitor.post("/account/tokens", {"label": label})
        assert response.status_code == 400
        assert _NEW_TOKEN.search(response.text) is None
