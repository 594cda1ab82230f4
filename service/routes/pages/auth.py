"""Sign up, log in, log out. Passwords are argon2 (service.security); names follow the same
rule as script names (service.names), checked by ``create_creator`` itself."""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import Response

from service.errors import InvalidName, NameTaken
from service.names import name_key
from service.routes.deps import SessionDep, SettingsDep
from service.routes.pages.deps import CheckedForm, WebSessionDep, mark_page
from service.routes.pages.rendering import page, redirect
from service.security import hash_password, verify_password
from service.store.creators import create_creator
from service.store.tables import Creator

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024  # argon2 takes any length; a bound keeps hashing cheap
WRONG_LOGIN = "That name and password do not match a creator."

router = APIRouter(dependencies=[Depends(mark_page)], include_in_schema=False)


def _field(form: CheckedForm, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


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


def _password_matches(creator: Creator | None, password: str) -> bool:
    if not password or len(password) > MAX_PASSWORD_CHARS:
        return False
    stored = creator.password_hash if creator is not None else None
    return verify_password(stored or _dummy_hash(), password) and stored is not None


def _find_creator(session: Session, name: str) -> Creator | None:
    return session.scalar(select(Creator).where(Creator.name_key == name_key(name)))


@router.get("/")
def home(request: Request, web: WebSessionDep) -> Response:
    return redirect(request, "/scripts" if web.creator_id is not None else "/login")


@router.get("/login")
def login_form(request: Request, web: WebSessionDep, settings: SettingsDep) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    if web.creator_id is not None:
        return redirect(request, next_path)
    return page(
        request, "login.html", name="", next_path=next_path, allow_signup=settings.allow_signup
    )


@router.post("/login")
def login(
    request: Request,
    form: CheckedForm,
    web: WebSessionDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    name, password = _field(form, "name").strip(), _field(form, "password")
    next_path = safe_next(_field(form, "next"))
    creator = _find_creator(session, name)
    if not _password_matches(creator, password) or creator is None:
        return page(
            request,
            "login.html",
            status_code=400,
            name=name,
            next_path=next_path,
            allow_signup=settings.allow_signup,
            error=WRONG_LOGIN,
        )
    web.log_in(creator.id)
    return redirect(request, next_path)


@router.get("/signup")
def signup_form(request: Request, settings: SettingsDep) -> Response:
    if not settings.allow_signup:
        return _signup_closed(request)
    return page(request, "signup.html", name="", errors={})


@router.post("/signup")
def signup(
    request: Request,
    form: CheckedForm,
    web: WebSessionDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    if not settings.allow_signup:
        return _signup_closed(request)
    name, password = _field(form, "name").strip(), _field(form, "password")
    errors: dict[str, str] = {}
    if len(password) < MIN_PASSWORD_CHARS:
        errors["password"] = f"Use at least {MIN_PASSWORD_CHARS} characters."
    elif len(password) > MAX_PASSWORD_CHARS:
        errors["password"] = f"Use at most {MAX_PASSWORD_CHARS} characters."
    elif password != _field(form, "password_again"):
        errors["password_again"] = "The two passwords differ."
    creator = None
    if not errors:
        try:
            with session.begin_nested():  # a taken name leaves the request's transaction usable
                creator = create_creator(session, name, hash_password(password))
        except (InvalidName, NameTaken) as exc:
            errors["name"] = str(exc)
    if creator is None:
        return page(request, "signup.html", status_code=400, name=name, errors=errors)
    web.log_in(creator.id)
    return redirect(
        request, "/scripts", notice=f"Welcome, {creator.name}. Create your first script."
    )


@router.post("/logout")
def logout(request: Request, form: CheckedForm, web: WebSessionDep) -> Response:
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
