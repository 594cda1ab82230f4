"""A run's page lists the HTTP requests of a half-shield script: method, host, path, status,
bytes and duration, from the run's record (issue 10)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from service.store.db import Database
from service.store.tables import Run, RunEvent, Script, utcnow
from tests.web.conftest import Visitor


async def test_the_run_page_shows_each_http_request(visitor: Visitor, db: Database) -> None:
    name = await visitor.create_script("# poe: privacy_shield=half\nprint('hi')\n")
    run_id = uuid.uuid4()
    entries = [
        ("meta", {"content_type": "text/markdown"}),
        ("http", {"method": "POST", "host": "api.example.com", "path": "/v1/chat",
                  "status": 200, "bytes": 1234, "duration_ms": 87, "error": None}),
        ("http", {"method": "GET", "host": "10.0.0.1", "path": "/<b>x</b>",
                  "status": None, "bytes": 0, "duration_ms": 1, "error": "refused"}),
        ("text", {"text": "done"}),
        ("done", {}),
    ]  # fmt: skip
    with db.transaction() as session:
        script = session.scalar(select(Script).where(Script.name == name))
        assert script is not None
        session.add(
            Run(
                id=run_id,
                script_id=script.id,
                version=1,
                trigger="console",
                status="ok",
                started_at=utcnow(),
                duration_ms=120,
                chars_out=4,
            )
        )
        session.flush()
        for seq, (kind, data) in enumerate(entries):
            session.add(RunEvent(run_id=run_id, seq=seq, type=kind, data=data))
    page = await visitor.get(f"/scripts/{name}/runs/{run_id}")
    assert page.status_code == 200
    assert "HTTP requests" in page.text and page.text.count("data-http-request") == 2
    assert "<td>POST</td><td>api.example.com</td><td><code>/v1/chat</code></td>" in page.text
    assert "<td>200</td><td>1234</td><td>87 ms</td>" in page.text
    assert "refused" in page.text and "/&lt;b&gt;x&lt;/b&gt;" in page.text
    assert "<b>x</b>" not in page.text
