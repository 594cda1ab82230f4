"""Backups (issue 14): ``scriptbots export`` from SQLite, ``scriptbots import`` into a new
PostgreSQL database, and the service on PostgreSQL serves the same creators, tokens, scripts,
versions, settings and secrets; new rows get fresh ids after the imported ones."""

from __future__ import annotations

import json
import stat
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from service.app import create_app
from service.settings import Settings
from tests.conftest import TEST_SECRET_KEY, unique_name
from tests.service.processes import clean_environment, scriptbots

ACCESS_KEY = "BackupTestAccessKey0123456789abc"
SECRET_VALUE = "the-secret-value-4242"
assert len(ACCESS_KEY) == 32


@asynccontextmanager
async def api(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(_env_file=None, database_url=database_url, secret_key=TEST_SECRET_KEY)  # type: ignore[call-arg]
    app = create_app(settings, warm_sandbox=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_export_from_sqlite_imports_into_postgresql(
    tmp_path: Path, make_postgres_database: Callable[[], str]
) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'old.db'}"
    postgres_url = make_postgres_database()
    old = clean_environment(
        SCRIPTBOTS_DATABASE_URL=sqlite_url, SCRIPTBOTS_SECRET_KEY=TEST_SECRET_KEY
    )
    new = clean_environment(
        SCRIPTBOTS_DATABASE_URL=postgres_url, SCRIPTBOTS_SECRET_KEY=TEST_SECRET_KEY
    )
    alice = unique_name("alice")
    made = scriptbots("creator", "create", alice, cwd=tmp_path, env=old)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    name = unique_name("bot")
    async with api(sqlite_url) as client:
        body = {
            "name": name,
            "source": 'print("one")',
            "poe_access_key": ACCESS_KEY,
            "settings": {"introduction_message": "Hello there"},
        }
        assert (await client.post("/api/v1/scripts", json=body, headers=headers)).status_code == 201
        patch = await client.patch(
            f"/api/v1/scripts/{name}", json={"source": 'print("two")'}, headers=headers
        )
        assert patch.status_code == 200
        secret = await client.put(
            f"/api/v1/scripts/{name}/secrets/API_KEY", json={"value": SECRET_VALUE}, headers=headers
        )
        assert secret.status_code in (200, 201, 204), secret.text
        before = (await client.get(f"/api/v1/scripts/{name}", headers=headers)).json()
        audit_before = (await client.get("/api/v1/audit", headers=headers)).json()

    export = tmp_path / "backup.json"
    done = scriptbots("export", str(export), cwd=tmp_path, env=old)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and "SECRET_KEY" in done.stderr
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    text = export.read_text()
    for clear in (token, ACCESS_KEY, SECRET_VALUE):
        assert clear not in text  # hashes and ciphertexts only
    document = json.loads(text)
    assert set(document["tables"]) >= {"creators", "api_tokens", "scripts", "script_versions"}
    assert "runs" not in document["tables"]

    loaded = scriptbots("import", str(export), cwd=tmp_path, env=new)
    assert loaded.returncode == 0, loaded.stderr
    assert "2 script_versions" in loaded.stderr

    async with api(postgres_url) as client:
        after = (await client.get(f"/api/v1/scripts/{name}", headers=headers)).json()
        assert after == before  # same token, same script, same times
        assert after["has_access_key"] is True and after["version"] == 2
        versions = (await client.get(f"/api/v1/scripts/{name}/versions", headers=headers)).json()
        assert [v["number"] for v in versions["items"]] == [2, 1]
        secrets = (await client.get(f"/api/v1/scripts/{name}/secrets", headers=headers)).json()
        assert "API_KEY" in json.dumps(secrets)
        assert (await client.get("/api/v1/audit", headers=headers)).json() == audit_before
        # New rows after the imported ones: PostgreSQL's sequences moved past them.
        more = await client.post(
            "/api/v1/scripts",
            json={"name": unique_name("bot"), "source": "print(1)"},
            headers=headers,
        )
        assert more.status_code == 201, more.text
        token2 = await client.post("/api/v1/tokens", json={}, headers=headers)
        assert token2.status_code == 201, token2.text
    assert (
        scriptbots("creator", "create", unique_name("bob"), cwd=tmp_path, env=new).returncode == 0
    )

    again = scriptbots("import", str(export), cwd=tmp_path, env=new)
    assert again.returncode == 1 and "already has creators" in again.stderr


def test_import_refuses_what_is_not_an_export(tmp_path: Path) -> None:
    env = clean_environment(SCRIPTBOTS_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}")
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": 1}')
    done = scriptbots("import", str(junk), cwd=tmp_path, env=env)
    assert done.returncode == 1 and "not a scriptbots export" in done.stderr
    missing = scriptbots("import", str(tmp_path / "nope.json"), cwd=tmp_path, env=env)
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    future = tmp_path / "future.json"
    future.write_text(
        json.dumps(
            {
                "format": "scriptbots-export",
                "version": 1,
                "tables": {"creators": {"columns": ["id", "shoe_size"], "rows": [[1, 44]]}},
            }
        )
    )
    done = scriptbots("import", str(future), cwd=tmp_path, env=env)
    assert done.returncode == 1 and "shoe_size" in done.stderr
