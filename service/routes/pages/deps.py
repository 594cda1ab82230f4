"""Dependencies of the pages: the session, the signed-in creator, the CSRF check of a form.

Not signed in raises ``Unauthorized``, which the error hook turns into a redirect to the
login page; a missing or wrong CSRF token is a 403 page, raised before anything is read
from the form or written to the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from service.errors import Unauthorized
from service.routes.deps import DatabaseDep, SessionDep
from service.routes.pages.rendering import web_session_of
from service.store.tables import Creator
from service.web_session import CSRF_FIELD, CSRF_HEADER, WebSession

MAX_FORM_FIELDS = 100
MAX_FORM_FILES = 10  # the console sends up to 10 attachments with a message
CSRF_REFUSED = (
    "This form has expired or did not come from this site. Go back, reload the page and "
    "try again (cookies must be enabled)."
)


@dataclass(frozen=True)
class ShownCreator:
    """What the layout shows of the signed-in creator; plain values, so that an error page
    can still show them after the request's transaction was rolled back."""

    id: int
    name: str


async def mark_page(request: Request) -> None:
    """Router dependency: errors on this request answer as HTML pages (``wants_html``)."""
    request.state.page = True


async def _web_session(request: Request) -> WebSession:
    return web_session_of(request)


WebSessionDep = Annotated[WebSession, Depends(_web_session)]


def _current(creator: Creator, web: WebSession) -> bool:
    """Whether the session still holds: its creator exists and has not logged out since."""
    return creator is not None and creator.session_version == web.version


def _signed_in(request: Request, web: WebSessionDep, session: SessionDep) -> Creator:
    creator = session.get(Creator, web.creator_id) if web.creator_id is not None else None
    if creator is None or not _current(creator, web):
        if web.creator_id is not None:  # the creator is gone or logged out: forget them
            web.log_out()
        raise Unauthorized("Log in to see this page.")
    request.state.creator = ShownCreator(creator.id, creator.name)
    return creator


SignedIn = Annotated[Creator, Depends(_signed_in)]


async def _signed_in_id(request: Request, web: WebSessionDep, database: DatabaseDep) -> int:
    """The signed-in creator's id, checked in a transaction of its own that ends before the
    route runs: a streaming route must hold no transaction while the run writes its rows
    (SQLite's BEGIN IMMEDIATE takes the write lock)."""
    creator_id = web.creator_id

    def check() -> ShownCreator | None:
        if creator_id is None:
            return None
        with database.transaction() as session:
            creator = session.get(Creator, creator_id)
            if creator is None or not _current(creator, web):
                return None
            return ShownCreator(creator.id, creator.name)

    shown = await anyio.to_thread.run_sync(check)
    if shown is None:
        if creator_id is not None:
            web.log_out()
        raise Unauthorized("Log in to see this page.")
    request.state.creator = shown
    return shown.id


SignedInId = Annotated[int, Depends(_signed_in_id)]


async def _checked_form(request: Request, web: WebSessionDep) -> AsyncIterator[FormData]:
    # Multipart and urlencoded alike; bounded so a hostile form cannot fill the disk or memory.
    form = await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS)
    try:
        token = form.get(CSRF_FIELD)
        if not isinstance(token, str):
            token = request.headers.get(CSRF_HEADER)
        if not web.csrf_matches(token):
            raise HTTPException(403, CSRF_REFUSED)
        yield form
    finally:
        await form.close()  # uploads are spooled to temporary files


CheckedForm = Annotated[FormData, Depends(_checked_form)]
