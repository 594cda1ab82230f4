"""A script's secrets on its edit page (issue 10): set and remove them with forms of their
own (CSRF-checked); the page lists names, never values."""

from __future__ import annotations

from sqlalchemy import select

from service.store.db import Database
from service.store.tables import Script, ScriptSecret
from tests.web.conftest import MakeVisitor, Visitor

VALUE = "sk-page-secret-value-123"


def _secret_names(db: Database, name: str) -> list[str]:
    with db.transaction() as session:
        script = session.scalar(select(Script).where(Script.name == name))
        assert script is not None
        rows = session.scalars(select(ScriptSecret).where(ScriptSecret.script_id == script.id))
        return sorted(row.name for row in rows)


async def test_set_list_and_remove_secrets_on_the_edit_page(visitor: Visitor, db: Database) -> None:
    name = await visitor.create_script()
    page = await visitor.get(f"/scripts/{name}/edit")
    assert 'id="secrets"' in page.text and "No secrets." in page.text
    saved = await visitor.post(
        f"/scripts/{name}/secrets", {"secret_name": "API_KEY", "secret_value": VALUE}
    )
    assert saved.status_code == 303 and saved.headers["location"].endswith("/edit#secrets")
    page = await visitor.get(f"/scripts/{name}/edit")
    assert "Secret API_KEY saved" in page.text
    assert 'data-secret="API_KEY"' in page.text and VALUE not in page.text
    assert _secret_names(db, name) == ["API_KEY"]
    removed = await visitor.post(f"/scripts/{name}/secrets/API_KEY/delete", {})
    assert removed.status_code == 303
    page = await visitor.get(f"/scripts/{name}/edit")
    assert "Secret API_KEY removed." in page.text and _secret_names(db, name) == []


async def test_a_bad_name_saves_nothing_and_says_why(visitor: Visitor, db: Database) -> None:
    name = await visitor.create_script()
    await visitor.get(f"/scripts/{name}/edit")
    await visitor.post(f"/scripts/{name}/secrets", {"secret_name": "9 bad", "secret_value": VALUE})
    page = await visitor.get(f"/scripts/{name}/edit")
    assert "Nothing was saved" in page.text and "not a valid secret name" in page.text
    assert VALUE not in page.text and _secret_names(db, name) == []


async def test_forms_need_their_csrf_token_and_the_scripts_creator(
    visitor: Visitor, make_visitor: MakeVisitor, db: Database
) -> None:
    name = await visitor.create_script()
    await visitor.get(f"/scripts/{name}/edit")
    forged = await visitor.post(
        f"/scripts/{name}/secrets", {"secret_name": "K", "secret_value": VALUE}, csrf=""
    )
    assert forged.status_code == 403 and _secret_names(db, name) == []
    stranger = await make_visitor("127.0.0.9")
    await stranger.signup()
    await stranger.get("/scripts")
    other = await stranger.post(
        f"/scripts/{name}/secrets", {"secret_name": "K", "secret_value": VALUE}
    )
    assert other.status_code == 404 and _secret_names(db, name) == []


async def test_a_refused_save_still_shows_the_secrets(visitor: Visitor) -> None:
    name = await visitor.create_script()
    await visitor.get(f"/scripts/{name}/edit")
    await visitor.post(f"/scripts/{name}/secrets", {"secret_name": "KEEP", "secret_value": VALUE})
    await visitor.get(f"/scripts/{name}/edit")
    refused = await visitor.post(f"/scripts/{name}/edit", {"source": "def broken(:\n"})
    assert refused.status_code == 422, refused.status_code
    assert "Nothing was saved" in refused.text and 'data-secret="KEEP"' in refused.text
