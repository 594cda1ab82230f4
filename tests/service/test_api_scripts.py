"""The script-management REST API (SPEC §5): what each route does when all goes well."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import select

from service.settings import Settings
from service.store.db import Database
from service.store.tables import Script
from tests.conftest import HELLO_SOURCE, CreatorInfo, unique_name

MakeScript = Callable[..., Awaitable[dict[str, Any]]]
ACCESS_KEY = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"


async def test_create_answers_201_with_the_script(
    client: httpx.AsyncClient, creator: CreatorInfo, settings: Settings
) -> None:
    name = unique_name("Echo")
    response = await client.post(
        "/api/v1/scripts",
        json={"name": name, "source": HELLO_SOURCE},
        headers=creator.headers,
    )
    assert response.status_code == 201
    script = response.json()
    assert script["name"] == name
    assert script["version"] == 1
    assert script["source"] == HELLO_SOURCE
    assert script["bot_url"] == f"{settings.base_url}/bots/{name}"
    assert script["has_access_key"] is False
    assert script["settings"] == {"server_bot_dependencies": {}}
    assert script["created_at"].endswith("Z") or "+00:00" in script["created_at"]
    assert "poe_access_key" not in script


async def test_bot_url_uses_public_url(
    make_settings: Callable[..., Settings], creator: CreatorInfo
) -> None:
    from service.app import create_app

    app = create_app(make_settings(public_url="https://bots.example.com/base/"), warm_sandbox=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            name = unique_name()
            response = await http.post(
                "/api/v1/scripts",
                json={"name": name, "source": HELLO_SOURCE},
                headers=creator.headers,
            )
    assert response.json()["bot_url"] == f"https://bots.example.com/base/bots/{name}"


async def test_access_key_is_stored_encrypted_and_never_returned(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript, db: Database
) -> None:
    script = await make_script(poe_access_key=ACCESS_KEY)
    assert script["has_access_key"] is True
    for path in ("", f"/{script['name']}", f"/{script['name']}/versions"):
        response = await client.get(f"/api/v1/scripts{path}", headers=creator.headers)
        assert ACCESS_KEY not in response.text
    with db.transaction() as session:
        row = session.scalar(select(Script).where(Script.name == script["name"]))
        assert row is not None and row.access_key_encrypted
        assert ACCESS_KEY not in row.access_key_encrypted


async def test_settings_are_validated_kept_and_completed(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript
) -> None:
    source = 'poe.call("GPT-4o", poe.query, output=poe.default_chat)\npoe.call("@GPT-4o", "x")\n'
    settings = {"introduction_message": "Hi!", "allow_attachments": False}
    script = await make_script(source=source, settings=settings)
    assert script["settings"] == {**settings, "server_bot_dependencies": {"GPT-4o": 2}}
    explicit = await make_script(
        source=source, settings={"server_bot_dependencies": {"Claude-3": 1}}
    )
    assert explicit["settings"] == {"server_bot_dependencies": {"Claude-3": 1}}


async def test_list_is_paginated_by_name(
    client: httpx.AsyncClient, make_creator: Callable[..., CreatorInfo], make_script: MakeScript
) -> None:
    owner = make_creator()
    names = sorted([(await make_script(owner=owner))["name"] for _ in range(5)])
    response = await client.get("/api/v1/scripts", headers=owner.headers)
    assert response.status_code == 200
    page = response.json()
    assert page["total"] == 5 and page["limit"] == 50 and page["offset"] == 0
    assert [s["name"] for s in page["items"]] == names
    assert set(page["items"][0]) == {
        "name",
        "version",
        "bot_url",
        "has_access_key",
        "created_at",
        "updated_at",
    }
    second = (await client.get("/api/v1/scripts?limit=2&offset=2", headers=owner.headers)).json()
    assert [s["name"] for s in second["items"]] == names[2:4]
    assert (second["total"], second["limit"], second["offset"]) == (5, 2, 2)
    past = (await client.get("/api/v1/scripts?offset=10", headers=owner.headers)).json()
    assert past["items"] == [] and past["total"] == 5


async def test_get_finds_the_name_in_any_case(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript
) -> None:
    script = await make_script()
    response = await client.get(
        f"/api/v1/scripts/{script['name'].upper()}", headers=creator.headers
    )
    assert response.status_code == 200
    assert response.json() == script


async def test_patch_source_makes_a_new_version(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript
) -> None:
    script = await make_script()
    url = f"/api/v1/scripts/{script['name']}"
    response = await client.patch(url, json={"source": "print(2)\n"}, headers=creator.headers)
    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert response.json()["source"] == "print(2)\n"
    same = await client.patch(url, json={"source": "print(2)\n"}, headers=creator.headers)
    assert same.json()["version"] == 2  # an unchanged source is not a new version
    assert (await client.get(url, headers=creator.headers)).json()["version"] == 2


async def test_patch_access_key_and_settings(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript
) -> None:
    script = await make_script(settings={"introduction_message": "Hello"})
    url = f"/api/v1/scripts/{script['name']}"
    set_key = await client.patch(url, json={"poe_access_key": ACCESS_KEY}, headers=creator.headers)
    assert set_key.json()["has_access_key"] is True
    assert set_key.json()["settings"]["introduction_message"] == "Hello"
    assert set_key.json()["version"] == 1
    new_settings = await client.patch(
        url, json={"settings": {"allow_attachments": True}}, headers=creator.headers
    )
    assert new_settings.json()["settings"] == {
        "allow_attachments": True,
        "server_bot_dependencies": {},
    }
    assert new_settings.json()["has_access_key"] is True
    cleared = await client.patch(
        url, json={"poe_access_key": None, "settings": None}, headers=creator.headers
    )
    assert cleared.json()["has_access_key"] is False
    assert cleared.json()["settings"] == {"server_bot_dependencies": {}}
    assert cleared.json()["updated_at"] > script["updated_at"]


async def test_versions_newest_first_and_one_version(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript
) -> None:
    script = await make_script(source="print(1)\n")
    url = f"/api/v1/scripts/{script['name']}"
    for n in (2, 3):
        await client.patch(url, json={"source": f"print({n})\n"}, headers=creator.headers)
    versions = (await client.get(f"{url}/versions", headers=creator.headers)).json()
    assert [v["number"] for v in versions["items"]] == [3, 2, 1]
    assert versions["total"] == 3
    first = versions["items"][-1]
    assert first["sha256"] == hashlib.sha256(b"print(1)\n").hexdigest()
    assert first["size"] == len("print(1)\n")
    assert set(first) == {"number", "sha256", "size", "created_at"}
    page = (await client.get(f"{url}/versions?limit=1&offset=1", headers=creator.headers)).json()
    assert [v["number"] for v in page["items"]] == [2]
    one = (await client.get(f"{url}/versions/1", headers=creator.headers)).json()
    no_header = {"header": {}, "privacy_shield": None, "settings_from_source": None}
    assert one == {**first, **no_header, "source": "print(1)\n"}


async def test_restore_makes_an_old_source_current_as_a_new_version(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript
) -> None:
    source = 'poe.call("Old-Bot", "x")\n'
    script = await make_script(source=source)
    url = f"/api/v1/scripts/{script['name']}"
    await client.patch(url, json={"source": "print('new')\n"}, headers=creator.headers)
    restored = await client.post(f"{url}/versions/1/restore", headers=creator.headers)
    assert restored.status_code == 200
    assert restored.json()["version"] == 3
    assert restored.json()["source"] == source
    assert restored.json()["settings"]["server_bot_dependencies"] == {"Old-Bot": 1}
    versions = (await client.get(f"{url}/versions", headers=creator.headers)).json()["items"]
    assert versions[0]["sha256"] == versions[2]["sha256"]


async def test_delete_removes_the_script_and_frees_its_name(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript
) -> None:
    script = await make_script()
    url = f"/api/v1/scripts/{script['name']}"
    await client.patch(url, json={"source": "print(2)\n"}, headers=creator.headers)
    deleted = await client.delete(url, headers=creator.headers)
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await client.get(url, headers=creator.headers)).status_code == 404
    assert (await client.get(f"{url}/versions/1", headers=creator.headers)).status_code == 404
    again = await client.post(
        "/api/v1/scripts",
        json={"name": script["name"], "source": HELLO_SOURCE},
        headers=creator.headers,
    )
    assert again.status_code == 201 and again.json()["version"] == 1


async def test_openapi_documents_the_routes(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    assert {"post", "get"} <= set(paths["/api/v1/scripts"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/scripts/{name}"])
    assert "post" in paths["/api/v1/scripts/{name}/versions/{number}/restore"]
    assert (await client.get("/docs")).status_code == 200
