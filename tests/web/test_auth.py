"""Sign up, log in, log out; the session cookie and its CSRF token (SPEC §4, §6)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import func, select

from service.app import create_app
from service.security import verify_password
from service.settings import Settings
from service.store.db import Database
from service.store.tables import Creator, Script
from service.web_session import COOKIE_NAME
from tests.conftest import CreatorInfo, unique_name
from tests.web.conftest import PASSWORD, MakeVisitor, Visitor


async def test_signup_logs_in_with_an_argon2_password(
    make_visitor: MakeVisitor, db: Database
) -> None:
    visitor = await make_visitor()
    response = await visitor.signup()
    assert response.status_code == 303
    assert response.headers["location"] == "/scripts"
    page = await visitor.get("/scripts")
    assert page.status_code == 200
    assert f"Welcome, {visitor.name}" in page.text
    with db.transaction() as session:
        creator = session.scalar(select(Creator).where(Creator.name == visitor.name))
        assert creator is not None and creator.password_hash is not None
        assert creator.password_hash.startswith("$argon2")
        assert verify_password(creator.password_hash, PASSWORD)


async def test_session_cookie_is_httponly_lax_and_signed(make_visitor: MakeVisitor) -> None:
    visitor = await make_visitor()
    response = await visitor.signup()
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # PUBLIC_URL is http here
    assert visitor.name not in response.headers["set-cookie"]


async def test_session_cookie_is_secure_behind_https(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings(public_url="https://bots.example.com"), warm_sandbox=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/login")
    assert "; secure" in response.headers["set-cookie"].lower()


@pytest.mark.parametrize(
    ("name", "password", "again", "error"),
    [
        ("ab", PASSWORD, PASSWORD, "3 to 40 letters"),
        ("1abc", PASSWORD, PASSWORD, "3 to 40 letters"),
        ("good-name", "short", "short", "at least 10"),
        ("good-name", "password1234", "password1234", "too easy to guess"),
        ("good-name", "Qwertyuiop", "Qwertyuiop", "too easy to guess"),
        ("good-name", "abababababab", "abababababab", "more different characters"),
        ("good-name", PASSWORD, PASSWORD + "x", "differ"),
    ],
)
async def test_bad_signups_keep_the_name_and_say_why(
    make_visitor: MakeVisitor, name: str, password: str, again: str, error: str
) -> None:
    visitor = await make_visitor()
    await visitor.get("/signup")
    name = name.replace("good-name", unique_name("c"))
    response = await visitor.post(
        "/signup", {"name": name, "password": password, "password_again": again}
    )
    assert response.status_code == 400
    assert error in response.text
    assert f'value="{name}"' in response.text
    assert password not in response.text


async def test_taken_creator_name_is_refused_in_any_case(
    make_visitor: MakeVisitor, creator: CreatorInfo
) -> None:
    visitor = await make_visitor()
    response = await visitor.signup(creator.name.upper())
    assert response.status_code == 400
    assert "already taken" in response.text


async def test_signup_closed_when_not_allowed(
    make_settings: Callable[..., Settings], db: Database
) -> None:
    app = create_app(make_settings(allow_signup=False), warm_sandbox=False)
    name = unique_name("c")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            visitor = Visitor(http)
            login = await visitor.get("/login")
            assert "Sign up" not in login.text
            assert (await visitor.get("/signup")).status_code == 404
            form = {"name": name, "password": PASSWORD, "password_again": PASSWORD}
            response = await visitor.post("/signup", form)
    assert response.status_code == 404
    assert "Sign-up is closed" in response.text
    with db.transaction() as session:
        assert session.scalar(select(Creator).where(Creator.name == name)) is None


async def test_login_and_logout(make_visitor: MakeVisitor, visitor: Visitor) -> None:
    other = await make_visitor()
    response = await other.login(visitor.name)
    assert response.status_code == 303
    assert (await other.get("/scripts")).status_code == 200
    response = await other.post("/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    response = await other.get("/scripts")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


async def test_login_refuses_wrong_passwords_alike(
    make_visitor: MakeVisitor, visitor: Visitor, make_creator: Callable[..., CreatorInfo]
) -> None:
    cli_creator = make_creator()  # made by the CLI without a password: no web login
    other = await make_visitor()
    for name, password in [
        (visitor.name, "wrong password"),
        (unique_name("nobody"), PASSWORD),
        (cli_creator.name, PASSWORD),
        (visitor.name, ""),
    ]:
        response = await other.login(name, password)
        assert response.status_code == 400
        assert "do not match" in response.text
    assert (await other.get("/scripts")).status_code == 303


async def test_pages_redirect_to_login_and_back(
    make_visitor: MakeVisitor, visitor: Visitor
) -> None:
    other = await make_visitor()
    response = await other.get("/scripts/some-script/edit")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/scripts/some-script/edit"
    await other.get(response.headers["location"])
    response = await other.post(
        "/login", {"name": visitor.name, "password": PASSWORD, "next": "/new"}
    )
    assert response.headers["location"] == "/new"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
async def test_login_never_redirects_off_site(
    make_visitor: MakeVisitor, visitor: Visitor, target: str
) -> None:
    other = await make_visitor()
    await other.get("/login")
    response = await other.post(
        "/login", {"name": visitor.name, "password": PASSWORD, "next": target}
    )
    assert response.headers["location"] == "/scripts"


async def test_home_goes_to_login_or_scripts(make_visitor: MakeVisitor, visitor: Visitor) -> None:
    assert (await visitor.get("/")).headers["location"] == "/scripts"
    stranger = await make_visitor()
    assert (await stranger.get("/")).headers["location"] == "/login"


# -- CSRF and tampering ---------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", "not-the-token", "x" * 43])
async def test_forms_without_the_csrf_token_are_refused_and_change_nothing(
    visitor: Visitor, db: Database, token: str
) -> None:
    name = await visitor.create_script()
    await visitor.get(f"/scripts/{name}")
    with db.transaction() as session:
        before = session.scalar(select(func.count()).select_from(Script))
    attempts = [
        ("/scripts", {"name": unique_name(), "source": "x = 1\n"}),
        (f"/scripts/{name}/edit", {"source": "x = 2\n"}),
        (f"/scripts/{name}/versions/1/restore", {}),
        (f"/scripts/{name}/delete", {}),
        (f"/scripts/{name}/console", {"query": "hi"}),
        ("/logout", {}),
    ]
    for path, form in attempts:
        response = await visitor.post(path, form, csrf=token)
        assert response.status_code == 403, path
        assert "text/html" in response.headers["content-type"]
        assert "did not come from this site" in response.text
    with db.transaction() as session:
        script = session.scalar(select(Script).where(Script.name == name))
        assert script is not None and script.current_version == 1
        assert session.scalar(select(func.count()).select_from(Script)) == before
    assert (await visitor.get("/scripts")).status_code == 200  # still logged in


async def test_login_form_needs_its_csrf_token(make_visitor: MakeVisitor, visitor: Visitor) -> None:
    other = await make_visitor()
    await other.get("/login")
    response = await other.post("/login", {"name": visitor.name, "password": PASSWORD}, csrf="")
    assert response.status_code == 403
    assert (await other.get("/scripts")).status_code == 303


async def test_a_token_from_another_session_is_refused(
    make_visitor: MakeVisitor, visitor: Visitor
) -> None:
    other = await make_visitor()
    await other.signup()
    name = await visitor.create_script()
    response = await visitor.post(f"/scripts/{name}/delete", csrf=other.csrf)
    assert response.status_code == 403


async def test_a_tampered_session_cookie_is_no_session(visitor: Visitor) -> None:
    cookie = visitor.session_cookie
    assert cookie is not None
    payload, _, signature = cookie.rpartition(".")
    forged = [
        payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:],
        "e30." + signature,  # "{}"
        cookie[:-3],
        "garbage",
    ]
    for value in forged:
        visitor.http.cookies.set(COOKIE_NAME, value)
        response = await visitor.get("/scripts")
        assert response.status_code == 303, value
        assert response.headers["location"].startswith("/login")
    visitor.http.cookies.set(COOKIE_NAME, cookie)
    assert (await visitor.get("/scripts")).status_code == 200


async def test_a_session_signed_with_another_secret_key_is_refused(
    make_settings: Callable[..., Settings], visitor: Visitor
) -> None:
    cookie = visitor.session_cookie
    assert cookie is not None
    app = create_app(make_settings(secret_key="another-secret-key-" + "z" * 20), warm_sandbox=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", cookies={COOKIE_NAME: cookie}
        ) as http:
            response = await http.get("/scripts")
    assert response.status_code == 303


async def test_deleted_creator_is_logged_out(visitor: Visitor, db: Database) -> None:
    with db.transaction() as session:
        creator = session.scalar(select(Creator).where(Creator.name == visitor.name))
        assert creator is not None
        session.delete(creator)
    response = await visitor.get("/scripts")
    assert response.status_code == 303
