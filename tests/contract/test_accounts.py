"""Accounts through a real server (issue 12): a token made over REST answers the real
fastapi_poe client, is listed without its secret, and once revoked gets 401 everywhere;
logout and password change end the sessions they should, copied cookies included."""

from __future__ import annotations

import re
from html import unescape

import httpx

from service.security import hash_password
from service.store.creators import create_creator
from service.web_session import COOKIE_NAME
from tests.conftest import CreatorInfo, unique_name
from tests.contract.conftest import Service, ask, query_request


async def test_a_revoked_token_is_refused_by_the_api_and_the_bot(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, 'print("hi", poe.query.text)')
    created = service.api("POST", "/tokens", creator, json={"label": "laptop"})
    assert created.status_code == 201, created.text
    token_id, token = created.json()["id"], created.json()["token"]
    second = CreatorInfo(creator.id, creator.name, token)
    assert await ask(service, name, token, "there") == "hi there"

    listed = service.api("GET", "/tokens", second)
    assert listed.status_code == 200
    assert listed.json()["items"][0]["label"] == "laptop"
    assert token not in listed.text and creator.token not in listed.text

    assert service.api("DELETE", f"/tokens/{token_id}", creator).status_code == 204
    assert service.api("GET", "/scripts", second).status_code == 401
    assert service.api("GET", "/tokens", second).status_code == 401
    query = query_request("again").model_dump(mode="json")
    bot = httpx.post(service.bots_base + name, json=query, headers=second.headers, timeout=30)
    assert bot.status_code == 401
    # The creator's other token is untouched.
    assert await ask(service, name, creator.token, "still") == "hi still"


def test_another_creators_token_is_404(service: Service) -> None:
    owner, other = service.creator(), service.creator()
    owner_token = service.api("GET", "/tokens", owner).json()["items"][0]["id"]
    assert service.api("DELETE", f"/tokens/{owner_token}", other).status_code == 404
    assert service.api("GET", "/scripts", owner).status_code == 200
    response = httpx.get(f"{service.base}/api/v1/tokens", timeout=10)
    assert response.status_code == 401


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return unescape(found.group(1))


def test_logout_ends_a_copied_cookie_and_a_password_change_the_others(service: Service) -> None:
    name, password = unique_name("c"), "an old passphrase here"
    with service.db.transaction() as session:
        create_creator(session, name, hash_password(password))
    with (
        httpx.Client(base_url=service.base, timeout=30) as browser,
        httpx.Client(base_url=service.base, timeout=30) as thief,
        httpx.Client(base_url=service.base, timeout=30) as laptop,
    ):
        for client in (browser, laptop):
            fields = {"csrf_token": _csrf(client.get("/login")), "name": name}
            assert client.post("/login", data={**fields, "password": password}).status_code == 303
        thief.cookies.set(COOKIE_NAME, browser.cookies[COOKIE_NAME])
        assert thief.get("/scripts").status_code == 200

        # A password change from the browser ends the laptop's session and the copy.
        new = "a brand new passphrase"
        change = {"current_password": password, "new_password": new, "new_password_again": new}
        changed = browser.post(
            "/account/password", data={**change, "csrf_token": _csrf(browser.get("/account"))}
        )
        assert changed.status_code == 303
        assert browser.get("/scripts").status_code == 200
        for ended in (laptop, thief):
            assert ended.get("/scripts").headers["location"].startswith("/login")

        # A copy of the browser's new cookie dies with the logout.
        thief.cookies.clear()
        thief.cookies.set(COOKIE_NAME, browser.cookies[COOKIE_NAME])
        assert thief.get("/scripts").status_code == 200
        logout = browser.post("/logout", data={"csrf_token": _csrf(browser.get("/scripts"))})
        assert logout.status_code == 303
        assert thief.get("/scripts").headers["location"].startswith("/login")
