"""A script's secrets through the REST API (issue 10): PUT stores, GET lists names only, DELETE
removes; values are encrypted at rest like access keys and never answered; another
creator's script is 404; bad names and values are 422. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import select

from service.security import AccessKeyCipher
from service.settings import Settings
from service.store.db import Database
from service.store.tables import AuditEvent, Script, ScriptSecret
from tests.conftest import CreatorInfo

MakeScript = Callable[..., Awaitable[dict[str, Any]]]
VALUE = "sk-live-0123456789abcdef"


def _url(name: str, key: str | None = None) -> str:
    return f"/api/v1/scripts/{name}/secrets" + (f"/{key}" if key else "")


async def test_put_lists_and_deletes_by_name_never_showing_values(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript
) -> None:
    name = (await make_script())["name"]
    put = await client.put(_url(name, "OPENAI_KEY"), json={"value": VALUE}, headers=creator.headers)
    assert put.status_code == 204 and put.content == b""
    again = await client.put(
        _url(name, "OPENAI_KEY"), json={"value": "v2-value"}, headers=creator.headers
    )
    assert again.status_code == 204
    await client.put(_url(name, "A_SECOND"), json={"value": "other"}, headers=creator.headers)
    listed = await client.get(_url(name), headers=creator.headers)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [item["name"] for item in items] == ["A_SECOND", "OPENAI_KEY"]
    assert set(items[0]) == {"name", "updated_at"} and VALUE not in listed.text
    assert (await client.delete(_url(name, "A_SECOND"), headers=creator.headers)).status_code == 204
    listed = await client.get(_url(name), headers=creator.headers)
    assert [item["name"] for item in listed.json()["items"]] == ["OPENAI_KEY"]
    missing = await client.delete(_url(name, "A_SECOND"), headers=creator.headers)
    assert missing.status_code == 404 and "no secret named 'A_SECOND'" in missing.json()["detail"]


async def test_values_are_encrypted_at_rest_and_audited_without_them(
    client: httpx.AsyncClient,
    creator: CreatorInfo,
    make_script: MakeScript,
    db: Database,
    settings: Settings,
) -> None:
    name = (await make_script())["name"]
    await client.put(_url(name, "TOKEN"), json={"value": VALUE}, headers=creator.headers)
    with db.transaction() as session:
        script = session.scalar(select(Script).where(Script.name == name))
        assert script is not None
        row = session.scalar(select(ScriptSecret).where(ScriptSecret.script_id == script.id))
        assert row is not None and VALUE not in row.value_encrypted
        assert settings.secret_key is not None
        cipher = AccessKeyCipher(settings.secret_key.get_secret_value())
        assert cipher.decrypt(row.value_encrypted) == VALUE
        audits = session.scalars(
            select(AuditEvent).where(AuditEvent.creator_id == creator.id)
        ).all()
    entry = next(a for a in audits if a.action == "secret.set")
    assert entry.subject == f"{name}/TOKEN" and VALUE not in str(entry.detail)


async def test_another_creators_script_is_404(
    client: httpx.AsyncClient,
    creator: CreatorInfo,
    make_creator: Callable[..., CreatorInfo],
    make_script: MakeScript,
) -> None:
    name = (await make_script())["name"]
    await client.put(_url(name, "KEY"), json={"value": VALUE}, headers=creator.headers)
    other = make_creator()
    for method, url in [
        ("GET", _url(name)),
        ("PUT", _url(name, "KEY")),
        ("DELETE", _url(name, "KEY")),
    ]:
        body = {"value": "x" * 8} if method == "PUT" else None
        response = await client.request(method, url, json=body, headers=other.headers)
        assert response.status_code == 404, (method, response.text)
    listed = await client.get(_url(name), headers=creator.headers)
    assert [item["name"] for item in listed.json()["items"]] == ["KEY"]


async def test_bad_names_and_values_are_422_without_echoing_the_value(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript
) -> None:
    name = (await make_script())["name"]
    for key in ["1ABC", "HAS-DASH", "A" * 65, "sp%20ace", "%C3%A9t%C3%A9"]:
        response = await client.put(_url(name, key), json={"value": VALUE}, headers=creator.headers)
        assert response.status_code == 422, key
        assert VALUE not in response.text
    for body in [{"value": ""}, {"value": "x" * 8193}, {"value": "a\x00b"}, {}, {"value": 5}]:
        response = await client.put(_url(name, "OK_NAME"), json=body, headers=creator.headers)
        assert response.status_code == 422, body
        assert "x" * 100 not in response.text
    listed = await client.get(_url(name), headers=creator.headers)
    assert listed.json()["items"] == []


async def test_at_most_fifty_secrets_per_script(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript
) -> None:
    name = (await make_script())["name"]
    for n in range(50):
        response = await client.put(
            _url(name, f"K{n}"), json={"value": "v"}, headers=creator.headers
        )
        assert response.status_code == 204
    over = await client.put(_url(name, "ONE_MORE"), json={"value": "v"}, headers=creator.headers)
    assert over.status_code == 422 and "at most 50 secrets" in over.json()["detail"]
    replaced = await client.put(_url(name, "K0"), json={"value": "w"}, headers=creator.headers)
    assert replaced.status_code == 204


async def test_deleting_the_script_deletes_its_secrets(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript, db: Database
) -> None:
    name = (await make_script())["name"]
    await client.put(_url(name, "KEY"), json={"value": VALUE}, headers=creator.headers)
    with db.transaction() as session:
        script_id = session.scalar(select(Script.id).where(Script.name == name))
    assert (
        await client.delete(f"/api/v1/scripts/{name}", headers=creator.headers)
    ).status_code == 204
    with db.transaction() as session:
        left = session.scalars(select(ScriptSecret).where(ScriptSecret.script_id == script_id))
        assert left.all() == []
