"""Sign up, log in, log out. Passwords are argon2, hashed a few at a time in worker threads
with no transaction open (``service.passwords``); logins are rate-limited per account and
per address in the database (``store.login_throttles``); names follow the same rule as
script names (service.names), checked by ``create_creator`` itself."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from starlette.responses import Response

from service import audit
from service.errors import InvalidName, LoginThrottled, NameTaken, WeakPassword
from service.names import name_key
from service.passwords import MAX_PASSWORD_CHARS, PasswordHashing, check_password
from service.routes.deps import SettingsDep
from service.routes.pages.deps import CheckedForm, WebSessionDep, mark_page
from service.routes.pages.rendering import page, redirect
from service.security import hash_password
from service.store.creators import create_creator
from service.store.db import Database
from service.store.login_throttles import (
    ThrottleKey,
    account_key,
    address_key,
    attempt_failed,
    attempt_succeeded,
    reserve_attempt,
)
from service.store.tables import Creator

WRONG_LOGIN = "That name and password do not match a creator."
THROTTLED = "Too many failed logins; wait {seconds} s before trying again."

router = APIRouter(dependencies=[Depends(mark_page)], include_in_schema=False)


def field_of(form: CheckedForm, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def passwords_of(request: Request) -> PasswordHashing:
    return request.app.state.passwords  # type: ignore[no-any-return]


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site only (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/scripts"
    if any(ch in target for ch in "\r\n\\") or target.startswith("/login"):
        return "/scripts"
    return target


@cache
def _dummy_hash() -> str:
    """Checked when the name is unknown, so both failures take as long (names stay private)."""
    return hash_password("not the password of anyone")


@dataclass(frozen=True)
class _Account:
    id: int
    password_hash: str | None
    session_version: int


def client_address(request: Request) -> str:
    """The client's address; an IPv6 client's whole /64, which one machine usually owns."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


T = TypeVar("T")


async def in_transaction(request: Request, function: Callable[..., T], *args: Any) -> T:
    """``function(session, *args)`` in a short transaction of its own, in a worker thread,
    a few at a time (``PasswordHashing.transactions``): the pages' routes that hash
    passwords hold no transaction meanwhile, and a login flood waits here, holding no
    thread, rather than in front of other tenants' queries."""
    database: Database = request.app.state.db

    def call() -> T:
        with database.transaction() as session:
            return function(session, *args)

    return await anyio.to_thread.run_sync(call, limiter=passwords_of(request).transactions)


def _failed(
    session: Session, keys: list[ThrottleKey], creator_id: int | None, address: str
) -> None:
    """A wrong password: the back-off runs from now, and a known account's audit log says so."""
    attempt_failed(session, keys)
    if creator_id is not None:
        audit.record(session, creator_id, "login.failed", address=address)


def _find_account(session: Session, key: str) -> _Account | None:
    creator = session.scalar(select(Creator).where(Creator.name_key == key))
    if creator is None:
        return None
    return _Account(creator.id, creator.password_hash, creator.session_version)


@router.get("/")
def home(request: Request, web: WebSessionDep) -> Response:
    return redirect(request, "/scripts" if web.creator_id is not None else "/login")


@router.get("/login")
def login_form(request: Request, web: WebSessionDep, settings: SettingsDep) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    if web.creator_id is not None:
        return redirect(request, next_path)
    return page(
        request, "login.html", name="", next_path=next_path, allow_signup=settings.signup_allowed
    )


@router.post("/login")
async def login(
    request: Request,
    form: CheckedForm,
    web: WebSessionDep,
    settings: SettingsDep,
) -> Response:
    name, password = field_of(form, "name").strip(), field_of(form, "password")
    next_path = safe_next(field_of(form, "next"))
    key = name_key(name[:200])
    account = account_key(key)
    others: list[ThrottleKey] = [address_key(client_address(request))]
    wait_s = await in_transaction(request, reserve_attempt, [account, *others])
    if wait_s is not None:
        raise LoginThrottled(THROTTLED.format(seconds=wait_s), wait_s)
    found = await in_transaction(request, _find_account, key)
    matches = False
    if password and len(password) <= MAX_PASSWORD_CHARS:
        stored = found.password_hash if found is not None else None
        matches = await passwords_of(request).verify(stored or _dummy_hash(), password)
        matches = matches and stored is not None
    if found is None or not matches:
        keys = [account, *others]
        creator_id = found.id if found is not None else None
        await in_transaction(request, _failed, keys, creator_id, client_address(request))
        return page(
            request,
            "login.html",
            status_code=400,
            name=name,
            next_path=next_path,
            allow_signup=settings.signup_allowed,
            error=WRONG_LOGIN,
        )
    await in_transaction(request, attempt_succeeded, account, others)
    web.log_in(found.id, found.session_version)
    return redirect(request, next_path)


@router.get("/signup")
def signup_form(request: Request, settings: SettingsDep) -> Response:
    if not settings.signup_allowed:
        return _signup_closed(request)
    return page(request, "signup.html", name="", errors={})


@router.post("/signup")
async def signup(
    request: Request,
    form: CheckedForm,
    web: WebSessionDep,
    settings: SettingsDep,
) -> Response:
    if not settings.signup_allowed:
        return _signup_closed(request)
    name, password = field_of(form, "name").strip(), field_of(form, "password")
    errors: dict[str, str] = {}
    try:
        check_password(password, name=name)
    except WeakPassword as exc:
        errors["password"] = str(exc)
    if not errors and password != field_of(form, "password_again"):
        errors["password_again"] = "The two passwords differ."
    creator = None
    if not errors:
        password_hash = await passwords_of(request).hash(password)
        try:
            creator = await in_transaction(request, create_creator, name, password_hash)
        except (InvalidName, NameTaken) as exc:
            errors["name"] = str(exc)
    if creator is None:
        return page(request, "signup.html", status_code=400, name=name, errors=errors)
    web.log_in(creator.id, creator.session_version)
    return redirect(
        request, "/scripts", notice=f"Welcome, {creator.name}. Create your first script."
    )


def end_sessions(session: Session, creator_id: int, version: int) -> None:
    """Every session of the creator ends, on every replica (a copied cookie included);
    nothing when ``version`` is already over (an old copy cannot log anyone out)."""
    session.execute(
        update(Creator)
        .where(Creator.id == creator_id, Creator.session_version == version)
        .values(session_version=Creator.session_version + 1)
    )


@router.post("/logout")
async def logout(request: Request, form: CheckedForm, web: WebSessionDep) -> Response:
    if web.creator_id is not None:
        await in_transaction(request, end_sessions, web.creator_id, web.version)
    web.log_out()
    return redirect(request, "/login", notice="You are logged out.")


def _signup_closed(request: Request) -> Response:
    return page(
        request,
        "error.html",
        status_code=404,
        title="Sign-up is closed",
        message="This service does not take new creators; ask its operator for an account.",
        code=404,
    )
