"""Tenancy (SPEC §4): no, bad or revoked token → 401; another creator's script → 404 on every
route; two creators racing for one name → one 201, one 409."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from service.store.creators import get_creator, revoke_api_token
from service.store.db import Database
from tests.conftest import HELLO_SOURCE, CreatorInfo, unique_name

MakeScript = Callable[..., Awaitable[dict[str, Any]]]

# Every route of issue 2 that names a script: (method, path suffix, JSON body).
SCRIPT_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "", None),
    ("PATCH", "", {"source": "print('changed')\n"}),
    ("PATCH", "", {"poe_access_key": "x" * 32}),
    ("PATCH", "", {"settings": {"introduction_message": "mine now"}}),
    ("DELETE", "", None),
    ("GET", "/versions", None),
    ("GET", "/versions/1", None),
    ("POST", "/versions/1/restore", None),
]
ALL_ROUTES = [("POST", None, {"name": "anything", "source": "x=1"}), ("GET", None, None)] + [
    (m, s, b) for m, s, b in SCRIPT_ROUTES
]


def _url(name: str, suffix: str | None) -> str:
    return "/api/v1/scripts" if suffix is None else f"/api/v1/scripts/{name}{suffix}"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer sb_not-a-real-token",
        "Token sb_abc",
        "Bearer \u00e9\u00e9".encode("latin-1"),
    ],
)
async def test_missing_or_bad_token_answers_401_on_every_route(
    client: httpx.AsyncClient, make_script: MakeScript, authorization: str | bytes | None
) -> None:
    script = await make_script()
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, suffix, body in ALL_ROUTES:
        response = await client.request(
            method, _url(script["name"], suffix), json=body, headers=headers
        )
        assert response.status_code == 401, (method, suffix, response.text)
        assert response.json()["detail"]
        assert response.headers["www-authenticate"] == "Bearer"


async def test_revoked_token_answers_401(
    client: httpx.AsyncClient, creator: CreatorInfo, db: Database
) -> None:
    assert (await client.get("/api/v1/scripts", headers=creator.headers)).status_code == 200
    with db.transaction() as session:
        assert revoke_api_token(session, get_creator(session, creator.name), creator.token)
    response = await client.get("/api/v1/scripts", headers=creator.headers)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


async def test_token_use_is_recorded(
    client: httpx.AsyncClient, creator: CreatorInfo, db: Database
) -> None:
    from sqlalchemy import select

    from service.security import hash_api_token
    from service.store.tables import ApiToken

    await client.get("/api/v1/scripts", headers=creator.headers)
    with db.transaction() as session:
        token = session.scalar(
            select(ApiToken).where(ApiToken.token_hash == hash_api_token(creator.token))
        )
        assert token is not None and token.last_used_at is not None


@pytest.mark.parametrize(("method", "suffix", "body"), SCRIPT_ROUTES)
async def test_another_creators_script_is_404_on_every_route(
    client: httpx.AsyncClient,
    creator: CreatorInfo,
    make_creator: Callable[..., CreatorInfo],
    make_script: MakeScript,
    method: str,
    suffix: str,
    body: Any,
) -> None:
    script = await make_script(poe_access_key="a" * 32)
    intruder = make_creator()
    for name in (script["name"], script["name"].upper()):
        response = await client.request(
            method, _url(name, suffix), json=body, headers=intruder.headers
        )
        assert response.status_code == 404, response.text
        assert response.json()["detail"] == f"You have no script named {name!r}."
    unknown = unique_name()
    missing = await client.request(
        method, _url(unknown, suffix), json=body, headers=intruder.headers
    )
    assert missing.status_code == 404  # the same answer as for a name nobody has
    owner_view = await client.get(_url(script["name"], ""), headers=creator.headers)
    assert owner_view.json() == script  # and nothing changed


async def test_lists_show_only_own_scripts(
    client: httpx.AsyncClient, make_creator: Callable[..., CreatorInfo], make_script: MakeScript
) -> None:
    alice, bob = make_creator(), make_creator()
    mine = await make_script(owner=alice)
    theirs = await make_script(owner=bob)
    alice_list = (await client.get("/api/v1/scripts", headers=alice.headers)).json()
    assert [s["name"] for s in alice_list["items"]] == [mine["name"]]
    bob_list = (await client.get("/api/v1/scripts", headers=bob.headers)).json()
    assert [s["name"] for s in bob_list["items"]] == [theirs["name"]]


async def test_racing_creators_one_wins_one_gets_409(
    client: httpx.AsyncClient, make_creator: Callable[..., CreatorInfo]
) -> None:
    racers = [make_creator() for _ in range(4)]
    for _ in range(5):
        name = unique_name()
        responses = await asyncio.gather(
            *(
                client.post(
                    "/api/v1/scripts",
                    json={"name": name if i % 2 else name.upper(), "source": HELLO_SOURCE},
                    headers=racer.headers,
                )
                for i, racer in enumerate(racers)
            )
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 409, 409, 409], [r.text for r in responses]


async def test_racing_edits_of_one_script_number_versions_uniquely(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript
) -> None:
    script = await make_script()
    url = f"/api/v1/scripts/{script['name']}"
    responses = await asyncio.gather(
        *(
            client.patch(url, json={"source": f"print({i})\n"}, headers=creator.headers)
            for i in range(6)
        )
    )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    versions = (await client.get(f"{url}/versions", headers=creator.headers)).json()["items"]
    assert [v["number"] for v in versions] == list(range(7, 0, -1))
