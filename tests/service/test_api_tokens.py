"""/api/v1/tokens on both databases: list (never the secret), create (shown once), revoke
(then 401), another creator's token 404, last use recorded at most once a minute (issue 12)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy import select

from service.store.creators import LAST_USED_GRANULARITY
from service.store.db import Database
from service.store.tables import ApiToken, utcnow
from tests.conftest import CreatorInfo


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_create_list_revoke(client: httpx.AsyncClient, creator: CreatorInfo) -> None:
    response = await client.post(
        "/api/v1/tokens", json={"label": "deploy"}, headers=creator.headers
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {"id", "token"}
    new_token = created["token"]
    assert (await client.get("/api/v1/scripts", headers=bearer(new_token))).status_code == 200

    listed = await client.get("/api/v1/tokens", headers=creator.headers)
    assert listed.status_code == 200
    body = listed.json()
    assert body["total"] == 2
    first = body["items"][0]
    assert first["id"] == created["id"] and first["label"] == "deploy"
    assert first["last_used_at"] is not None  # used just above
    assert set(first) == {"id", "label", "created_at", "last_used_at"}
    assert new_token not in listed.text and creator.token not in listed.text

    revoked = await client.delete(f"/api/v1/tokens/{created['id']}", headers=creator.headers)
    assert revoked.status_code == 204 and revoked.content == b""
    refused = await client.get("/api/v1/scripts", headers=bearer(new_token))
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]
    assert (await client.get("/api/v1/tokens", headers=creator.headers)).json()["total"] == 1
    again = await client.delete(f"/api/v1/tokens/{created['id']}", headers=creator.headers)
    assert again.status_code == 404


async def test_create_without_a_body(client: httpx.AsyncClient, creator: CreatorInfo) -> None:
    response = await client.post("/api/v1/tokens", headers=creator.headers)
    assert response.status_code == 201
    assert response.json()["token"] != creator.token


async def test_another_creators_token_is_not_found(
    client: httpx.AsyncClient, make_creator: Callable[..., CreatorInfo]
) -> None:
    owner, other = make_creator(), make_creator()
    owner_id = (await client.get("/api/v1/tokens", headers=owner.headers)).json()["items"][0]["id"]
    response = await client.delete(f"/api/v1/tokens/{owner_id}", headers=other.headers)
    assert response.status_code == 404
    unknown = await client.delete("/api/v1/tokens/999999999", headers=other.headers)
    assert unknown.status_code == 404  # the same answer as for a token that does not exist
    assert response.json()["detail"] == f"You have no API token with id {owner_id}."
    assert (await client.get("/api/v1/tokens", headers=owner.headers)).json()["total"] == 1
    ids = {
        t["id"] for t in (await client.get("/api/v1/tokens", headers=other.headers)).json()["items"]
    }
    assert owner_id not in ids


async def test_a_token_can_revoke_itself(client: httpx.AsyncClient, creator: CreatorInfo) -> None:
    own = (await client.get("/api/v1/tokens", headers=creator.headers)).json()["items"][0]["id"]
    assert (
        await client.delete(f"/api/v1/tokens/{own}", headers=creator.headers)
    ).status_code == 204
    assert (await client.get("/api/v1/tokens", headers=creator.headers)).status_code == 401


async def test_without_a_token_401(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/tokens")).status_code == 401
    assert (await client.post("/api/v1/tokens")).status_code == 401
    assert (await client.delete("/api/v1/tokens/1")).status_code == 401
    wrong = bearer("sb_not_a_token")
    assert (await client.get("/api/v1/tokens", headers=wrong)).status_code == 401


async def test_bad_input_is_4xx(client: httpx.AsyncClient, creator: CreatorInfo) -> None:
    for body in ({"label": ""}, {"label": "x" * 101}, {"label": "a\nb"}, {"other": 1}, [1]):
        response = await client.post("/api/v1/tokens", json=body, headers=creator.headers)
        assert response.status_code == 422, body
    for bad in ("0", "-1", "abc", str(2**64)):
        response = await client.delete(f"/api/v1/tokens/{bad}", headers=creator.headers)
        assert response.status_code == 422, bad


async def test_last_use_is_written_at_most_once_a_minute(
    client: httpx.AsyncClient, creator: CreatorInfo, db: Database
) -> None:
    def last_used() -> object:
        with db.transaction() as session:
            return session.scalar(
                select(ApiToken.last_used_at).where(ApiToken.creator_id == creator.id)
            )

    await client.get("/api/v1/scripts", headers=creator.headers)
    first = last_used()
    assert first is not None
    await client.get("/api/v1/scripts", headers=creator.headers)
    assert last_used() == first  # within the minute: no write

    with db.transaction() as session:  # as if the last use were over a minute ago
        token = session.scalars(select(ApiToken).where(ApiToken.creator_id == creator.id)).one()
        token.last_used_at = utcnow() - LAST_USED_GRANULARITY - timedelta(seconds=1)
    await client.get("/api/v1/scripts", headers=creator.headers)
    assert last_used() > utcnow() - timedelta(seconds=30)  # type: ignore[operator]
