"""``POST /api/v1/check``: the problems a save would be refused for, as a list, saving
nothing; the same checks as ``POST /api/v1/scripts`` (compile, header, settings run)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import CreatorInfo, unique_name

SOURCES = {
    "syntax": "x = (1,\n",
    "policy": 'exec("1")\n',
    "header": "# poe: privacy_shield=quarter\nprint(1)\n",
    "settings run": 'import json\njson.loads("{")\nif __name__ == "__main__":\n    print(1)\n',
    "fine": 'if __name__ == "__main__":\n    print(poe.query.text)\n',
}


@pytest.mark.parametrize("kind", list(SOURCES))
async def test_check_answers_what_a_save_refuses(
    client: httpx.AsyncClient, creator: CreatorInfo, kind: str
) -> None:
    source = SOURCES[kind]
    checked = await client.post("/api/v1/check", json={"source": source}, headers=creator.headers)
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["settings_checked"] is True
    saved = await client.post(
        "/api/v1/scripts", json={"name": unique_name(), "source": source}, headers=creator.headers
    )
    if kind == "fine":
        assert body["problems"] == [] and saved.status_code == 201
        return
    assert saved.status_code == 422, saved.text
    assert body["problems"] == saved.json()["errors"]
    assert body["problems"]


async def test_check_saves_nothing_and_needs_a_token(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    source = "print(1)\n"
    assert (await client.post("/api/v1/check", json={"source": source})).status_code == 401
    before = (await client.get("/api/v1/scripts", headers=creator.headers)).json()
    response = await client.post(
        "/api/v1/check", json={"source": source, "name": unique_name()}, headers=creator.headers
    )
    assert response.json() == {"problems": [], "settings_checked": True, "note": None}
    assert (await client.get("/api/v1/scripts", headers=creator.headers)).json() == before


@pytest.mark.parametrize(
    "body",
    [b"{}", b'{"source": 3}', b'{"source": "x", "other": 1}', b'{"source": "\\ud800"}', b"[1"],
)
async def test_bad_check_requests_are_422(
    client: httpx.AsyncClient, creator: CreatorInfo, body: bytes
) -> None:
    headers = {**creator.headers, "Content-Type": "application/json"}
    response = await client.post("/api/v1/check", content=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"]


async def test_a_source_over_the_limit_is_one_problem(
    client: httpx.AsyncClient, creator: CreatorInfo
) -> None:
    source = "x = 1\n" * 175_000  # 1.05 MB: over a save's limit, within a check's
    response = await client.post("/api/v1/check", json={"source": source}, headers=creator.headers)
    [problem] = response.json()["problems"]
    assert "limit" in problem["message"] and problem["line"] == 1
