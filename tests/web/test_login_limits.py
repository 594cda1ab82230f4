"""Logins are limited per account and per address, in the database (every replica sees the
same counts), with a growing back-off answered 429 + Retry-After; logout ends every session
of the creator, a copied cookie included (issue 12)."""

from __future__ import annotations

import asyncio
import secrets

import httpx
from fastapi import FastAPI

from service.app import create_app
from service.settings import Settings
from service.store.login_throttles import address_key
from service.web_session import COOKIE_NAME
from tests.conftest import unique_name
from tests.web.conftest import PASSWORD, MakeVisitor, Visitor

ACCOUNT_FREE_FAILURES = 5


def random_address() -> str:
    return f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


async def test_failed_logins_back_off_even_for_the_right_password(
    make_visitor: MakeVisitor, visitor: Visitor
) -> None:
    guesser = await make_visitor(random_address())
    for _ in range(ACCOUNT_FREE_FAILURES + 1):  # the last one starts a 1 s back-off
        response = await guesser.login(visitor.name, "wrong password guess")
        assert response.status_code == 400
    response = await guesser.login(visitor.name)  # right, but too soon
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    assert "Too many failed logins" in response.text
    assert (await guesser.get("/scripts")).status_code == 303  # not logged in

    # Another address is held back too: the limit is the account's, not the guesser's.
    owner = await make_visitor(random_address())
    assert (await owner.login(visitor.name)).status_code == 429

    await asyncio.sleep(int(response.headers["retry-after"]) + 0.2)
    response = await owner.login(visitor.name)
    assert response.status_code == 303
    # A success starts the account again from zero: one wrong password is a plain 400.
    assert (await guesser.login(visitor.name, "wrong again")).status_code == 400
    assert (await guesser.login(visitor.name)).status_code == 303


async def test_the_back_off_doubles(make_visitor: MakeVisitor, visitor: Visitor) -> None:
    guesser = await make_visitor(random_address())
    for _ in range(ACCOUNT_FREE_FAILURES + 1):
        await guesser.login(visitor.name, "wrong password guess")
    await asyncio.sleep(1.1)
    assert (await guesser.login(visitor.name, "wrong password guess")).status_code == 400
    response = await guesser.login(visitor.name, "wrong password guess")
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) == 2


async def test_one_address_is_limited_across_accounts(make_visitor: MakeVisitor) -> None:
    address = random_address()
    guesser = await make_visitor(address)
    free = address_key(address).free_failures
    for _ in range(free + 1):
        response = await guesser.login(unique_name("nobody"), "wrong password guess")
        assert response.status_code == 400
    response = await guesser.login(unique_name("nobody"), "wrong password guess")
    assert response.status_code == 429
    assert "retry-after" in response.headers
    elsewhere = await make_visitor(random_address())  # other addresses are not affected
    assert (await elsewhere.login(unique_name("nobody"), "wrong")).status_code == 400


async def test_replicas_share_the_limits(
    make_visitor: MakeVisitor, visitor: Visitor, settings: Settings
) -> None:
    guesser = await make_visitor(random_address())
    for _ in range(ACCOUNT_FREE_FAILURES + 1):
        await guesser.login(visitor.name, "wrong password guess")
    replica = create_app(settings, warm_sandbox=False)
    async with replica.router.lifespan_context(replica):
        transport = httpx.ASGITransport(app=replica, client=(random_address(), 5))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            other = Visitor(http)
            response = await other.login(visitor.name)
    assert response.status_code == 429


async def test_a_login_flood_is_refused_quickly_without_a_500(
    make_visitor: MakeVisitor, visitor: Visitor
) -> None:
    guessers = [await make_visitor(random_address()) for _ in range(20)]
    for guesser in guessers:
        await guesser.get("/login")
    answers = await asyncio.wait_for(
        asyncio.gather(
            *(g.post("/login", {"name": visitor.name, "password": "wrong"}) for g in guessers)
        ),
        timeout=60,
    )
    statuses = sorted(a.status_code for a in answers)
    # Attempts are counted before the password is checked: a burst cannot all get through.
    assert statuses.count(400) <= ACCOUNT_FREE_FAILURES + 1
    assert set(statuses) <= {400, 429, 503}


async def test_logout_ends_a_copied_session_cookie(
    make_visitor: MakeVisitor, visitor: Visitor
) -> None:
    copy = await make_visitor()
    assert visitor.session_cookie is not None
    copy.http.cookies.set(COOKIE_NAME, visitor.session_cookie)
    assert (await copy.get("/scripts")).status_code == 200
    await visitor.get("/scripts")  # a page with the logged-in session's CSRF token
    assert (await visitor.post("/logout")).status_code == 303
    response = await copy.get("/scripts")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    # Logging in again works, and the old copy stays dead.
    assert (await visitor.login(visitor.name, PASSWORD)).status_code == 303
    assert (await visitor.get("/scripts")).status_code == 200
    assert (await copy.get("/scripts")).status_code == 303


async def test_an_old_copy_cannot_log_the_creator_out(
    make_visitor: MakeVisitor, visitor: Visitor, app: FastAPI
) -> None:
    old = await make_visitor()
    old.http.cookies.set(COOKIE_NAME, visitor.session_cookie or "")
    await old.get("/scripts")
    await visitor.get("/scripts")
    assert (await visitor.post("/logout")).status_code == 303
    assert (await visitor.login(visitor.name)).status_code == 303
    # The old copy's session is over; its logout form (CSRF token still valid) changes nothing.
    assert (await old.post("/logout")).status_code == 303
    assert (await visitor.get("/scripts")).status_code == 200
