"""/docs and /redoc load their scripts and styles from this service, never a CDN, so they
work offline (issue 13): in-process, and in a real Chromium that may reach nothing else."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, Route, expect


async def test_docs_pages_use_local_assets(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        response = await client.get(path)
        assert response.status_code == 200
        assert "cdn.jsdelivr" not in response.text and "fonts.googleapis" not in response.text
        assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', response.text)
        assert any(a.endswith(".js") for a in assets), path
        for asset in assets:
            assert (await client.get(asset)).status_code == 200, asset
    assert (await client.get("/docs/oauth2-redirect")).status_code == 200


def test_the_api_docs_render_with_no_network_but_the_service(page: Page, server: str) -> None:
    refused: list[str] = []

    def only_the_service(route: Route) -> None:
        if route.request.url.startswith(server):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_service)
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("scriptbots")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    page.goto("/redoc")
    expect(page.locator("h1").first).to_contain_text("scriptbots")
    assert refused == []
