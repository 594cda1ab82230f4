"""Errors are friendly pages for people and stay JSON for programs (routes/errors.py's hook)."""

from __future__ import annotations

import json

import httpx
import pytest

from service.routes.pages.rendering import STATIC_DIR
from tests.web.conftest import Visitor

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nothing-here", 404), ("GET", "/scripts/abc/console", 405)],
)
async def test_browsers_get_error_pages(
    visitor: Visitor, method: str, path: str, status: int
) -> None:
    response = await visitor.http.request(method, path, headers=HTML)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "<!doctype html>" in response.text and "Back to my scripts" in response.text
    assert "content-security-policy" in response.headers


async def test_page_routes_answer_pages_whatever_the_accept_header(visitor: Visitor) -> None:
    response = await visitor.http.get("/scripts/no-such-script")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    name = await visitor.create_script()
    response = await visitor.post(f"/scripts/{name}/versions/abc/restore")
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/v1/scripts", 401), ("/api/v2/nothing", 404), ("/api/v1/scripts/x/runs", 401)],
)
async def test_machine_paths_stay_json_for_browsers(
    client: httpx.AsyncClient, path: str, status: int
) -> None:
    response = await client.get(path, headers=HTML)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["detail"]


async def test_unknown_routes_stay_json_for_programs(client: httpx.AsyncClient) -> None:
    response = await client.get("/nothing-here")
    assert response.json() == {"detail": "Not Found"}


async def test_static_files_and_the_built_bundles_are_served(client: httpx.AsyncClient) -> None:
    manifest = json.loads((STATIC_DIR / "dist" / "manifest.json").read_text())
    bundles = [manifest["app.js"], manifest["editor.js"]]
    for name in ("app.css", "favicon.svg", *bundles):
        response = await client.get(f"/static/{name}")
        assert response.status_code == 200, name
    bundle = await client.get(f"/static/{manifest['editor.js']}")
    assert bundle.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert (await client.get("/static/../service/settings.py")).status_code == 404
