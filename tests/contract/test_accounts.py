"""Accounts through a real server (issue 12): a token made over REST answers the real
fastapi_poe client, is listed without its secret, and once revoked gets 401 everywhere."""

from __future__ import annotations

import httpx

from tests.conftest import CreatorInfo
from tests.contract.conftest import Service, ask, query_request


async def test_a_revoked_token_is_refused_by_the_api_and_the_bot(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, 'print("hi", poe.query.text)')
    created = service.api("POST", "/tokens", creator, json={"label": "laptop"})
    assert created.status_code == 201, created.text
    token_id, token = created.json()["id"], created.json()["token"]
    second = CreatorInfo(creator.id, creator.name, token)
    assert await ask(service, name, token, "there") == "hi there"

    listed = service.api("GET", "/tokens", second)
    assert listed.status_code == 200
    assert listed.json()["items"][0]["label"] == "laptop"
    assert token not in listed.text and creator.token not in listed.text

    assert service.api("DELETE", f"/tokens/{token_id}", creator).status_code == 204
    assert service.api("GET", "/scripts", second).status_code == 401
    assert service.api("GET", "/tokens", second).status_code == 401
    query = query_request("again").model_dump(mode="json")
    bot = httpx.post(service.bots_base + name, json=query, headers=second.headers, timeout=30)
    assert bot.status_code == 401
    # The creator's other token is untouched.
    assert await ask(service, name, creator.token, "still") == "hi still"


def test_another_creators_token_is_404(service: Service) -> None:
    owner, other = service.creator(), service.creator()
    owner_token = service.api("GET", "/tokens", owner).json()["items"][0]["id"]
    assert service.api("DELETE", f"/tokens/{owner_token}", other).status_code == 404
    assert service.api("GET", "/scripts", owner).status_code == 200
    response = httpx.get(f"{service.base}/api/v1/tokens", timeout=10)
    assert response.status_code == 401
