"""The audit log (issue 14): each creator action leaves one entry, in the action's own
transaction; ``GET /api/v1/audit`` shows a creator their own, newest first and paged; the
operator reads everyone's with ``scriptbots audit``. No entry holds a secret."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import CreatorInfo, unique_name
from tests.service.processes import clean_environment, scriptbots

ACCESS_KEY = "AuditTestAccessKey0123456789abcd"
assert len(ACCESS_KEY) == 32

MakeScript = Callable[..., Awaitable[dict[str, Any]]]


async def audit(client: httpx.AsyncClient, creator: CreatorInfo, **params: Any) -> Any:
    response = await client.get("/api/v1/audit", params=params, headers=creator.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_script_and_token_actions_are_recorded_newest_first(
    client: httpx.AsyncClient,
    creator: CreatorInfo,
    make_creator: Callable[..., CreatorInfo],
    make_script: MakeScript,
) -> None:
    name = (await make_script(poe_access_key=ACCESS_KEY))["name"]
    url = f"/api/v1/scripts/{name}"
    h = creator.headers
    assert (await client.patch(url, json={"source": 'print("v2")'}, headers=h)).status_code == 200
    same = await client.patch(url, json={"source": 'print("v2")', "settings": {}}, headers=h)
    assert same.status_code == 200
    assert (await client.post(f"{url}/versions/1/restore", headers=h)).status_code == 200
    made = await client.post("/api/v1/tokens", json={"label": "ci"}, headers=h)
    token_id = made.json()["id"]
    assert (await client.delete(f"/api/v1/tokens/{token_id}", headers=h)).status_code == 204
    assert (await client.delete(url, headers=h)).status_code == 204

    page = await audit(client, creator)
    entries = [(e["action"], e["subject"], e["detail"]) for e in page["items"]]
    assert entries == [
        ("script.deleted", name, {}),
        ("token.revoked", str(token_id), {}),
        ("token.created", str(token_id), {"label": "ci"}),
        ("script.restored", name, {"version": 3, "of": 1}),
        ("script.changed", name, {"fields": ["settings"], "version": 2}),
        ("script.changed", name, {"fields": ["source"], "version": 2}),
        ("script.created", name, {"version": 1}),
        ("token.created", entries[7][1], {"label": None}),  # the creator fixture's token
        ("creator.created", creator.name, {}),
    ]
    assert page["total"] == 9
    assert ACCESS_KEY not in json.dumps(page)
    second = await audit(client, creator, limit=2, offset=2)
    assert [e["action"] for e in second["items"]] == ["token.created", "script.restored"]
    assert second["total"] == 9

    # Tenancy: another creator sees none of it.
    other = make_creator()
    theirs = (await audit(client, other))["items"]
    assert [e["action"] for e in theirs] == ["token.created", "creator.created"]
    assert name not in json.dumps(theirs)


async def test_a_failed_action_leaves_no_entry(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript
) -> None:
    name = (await make_script())["name"]
    body = {"name": name, "source": 'print("x")'}
    taken = await client.post("/api/v1/scripts", json=body, headers=creator.headers)
    assert taken.status_code == 409
    bad = await client.patch(
        f"/api/v1/scripts/{name}", json={"source": "def (:"}, headers=creator.headers
    )
    assert bad.status_code == 422
    missing = await client.delete("/api/v1/tokens/999999", headers=creator.headers)
    assert missing.status_code == 404
    actions = [e["action"] for e in (await audit(client, creator))["items"]]
    assert actions == ["script.created", "token.created", "creator.created"]


async def test_audit_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/audit")
    assert response.status_code == 401 and "detail" in response.json()
    bad_page = await client.get("/api/v1/audit", params={"limit": "x"})
    assert bad_page.status_code in (401, 422)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def test_the_operator_reads_every_creators_entries_with_scriptbots_audit(
    workdir: Path,
) -> None:
    env = clean_environment(SCRIPTBOTS_DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite'}")
    alice, bob = unique_name("a"), unique_name("b")
    for name in (alice, bob):
        assert scriptbots("creator", "create", name, cwd=workdir, env=env).returncode == 0
    assert scriptbots("token", "create", bob, cwd=workdir, env=env).returncode == 0
    listed = scriptbots("token", "list", bob, cwd=workdir, env=env).stdout.splitlines()
    newest = listed[1].split("\t")[0]
    assert scriptbots("token", "revoke", newest, cwd=workdir, env=env).returncode == 0

    everyone = scriptbots("audit", cwd=workdir, env=env)
    assert everyone.returncode == 0, everyone.stderr
    header, *lines = everyone.stdout.splitlines()
    assert header == "at\tcreator\taction\tsubject\taddress\tdetail"
    rows = [line.split("\t")[1:4] for line in lines]
    assert [alice, "creator.created", alice] in rows
    assert [bob, "token.revoked", newest] == rows[-1]  # oldest first: the newest is last

    only_bob = scriptbots("audit", "--creator", bob, "--json", cwd=workdir, env=env)
    entries = [json.loads(line) for line in only_bob.stdout.splitlines()]
    assert {e["creator"] for e in entries} == {bob}
    assert [e["action"] for e in entries] == [
        "creator.created",
        "token.created",
        "token.created",
        "token.revoked",
    ]
    assert entries[1]["detail"] == {"label": "cli"}
    revoked = scriptbots("audit", "--action", "token.revoked", "--limit", "1", cwd=workdir, env=env)
    assert len(revoked.stdout.splitlines()) == 2
    unknown = scriptbots("audit", "--creator", "nobody-here", cwd=workdir, env=env)
    assert unknown.returncode == 1 and "nobody-here" in unknown.stderr
    bad = scriptbots("audit", "--since", "yesterday", cwd=workdir, env=env)
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr


async def test_secrets_set_and_removed_are_recorded_without_their_values(
    client: httpx.AsyncClient, creator: CreatorInfo, make_script: MakeScript
) -> None:
    name = (await make_script())["name"]
    url = f"/api/v1/scripts/{name}/secrets/API_KEY"
    for value in ("first-value-xyz", "second-value-xyz"):
        response = await client.put(url, json={"value": value}, headers=creator.headers)
        assert response.status_code in (200, 201, 204), response.text
    assert (await client.delete(url, headers=creator.headers)).status_code == 204
    page = await audit(client, creator, limit=3)
    entries = [(e["action"], e["subject"], e["detail"]) for e in page["items"]]
    assert entries == [
        ("secret.removed", f"{name}/API_KEY", {}),
        ("secret.set", f"{name}/API_KEY", {"created": False}),
        ("secret.set", f"{name}/API_KEY", {"created": True}),
    ]
    assert "value-xyz" not in json.dumps(page)
