"""/metrics of a real server after real queries (SPEC §9, issue 14): requests by route
template and status, runs by status and trigger, sandbox start and queue wait, bot calls and
attachment fetches by kind and outcome, the pool. Other tests share the server, so each
assertion is about the change a test's own queries made."""

from __future__ import annotations

import fastapi_poe as fp
import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import CreatorInfo
from tests.contract.conftest import Service, ask, console_events, text_of
from tests.upstream import ACCESS_KEY

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

CALL_AND_READ = """
print(poe.call("Echo", "hi").text)
for attachment in poe.query.attachments:
    print(attachment.get_contents().decode())
"""


def scrape(service: Service) -> Samples:
    response = httpx.get(service.base + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_count_what_real_queries_did(service: Service, creator: CreatorInfo) -> None:
    poe_bot = service.script(creator, CALL_AND_READ, access_key=ACCESS_KEY)
    failing = service.script(creator, "1 / 0")
    before = scrape(service)

    url = service.upstream.root + "/files/hello.txt"
    message = fp.ProtocolMessage(
        role="user",
        content="read this",
        attachments=[fp.Attachment(url=url, content_type="text/plain", name="hello.txt")],
    )
    poe_bot_settings = service.api(
        "PATCH", f"/scripts/{poe_bot}", creator, json={"settings": {"allow_attachments": True}}
    )
    assert poe_bot_settings.status_code == 200, poe_bot_settings.text
    assert await ask(service, poe_bot, ACCESS_KEY, message) == "hi\n\nhello world"
    events = await console_events(service, creator, failing, {"query": "x"})
    assert "ZeroDivisionError" in str(events) and text_of(events) == ""
    assert httpx.get(service.base + "/no/such/page/12345", timeout=10).status_code == 404
    after = scrape(service)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("scriptbots_runs_total", status="ok", trigger="poe") == 1
    assert grew("scriptbots_runs_total", status="error", trigger="console") == 1
    assert grew("scriptbots_run_duration_seconds_count") == 2
    assert grew("scriptbots_sandbox_start_seconds_count") == 2
    assert grew("scriptbots_queue_wait_seconds_count", creator=creator.name) == 2
    assert value(before, "scriptbots_queue_wait_seconds_count", creator=creator.name) == 0
    assert grew("scriptbots_bot_calls_total", kind="upstream", outcome="ok") == 1
    assert grew("scriptbots_egress_requests_total", kind="fetch", outcome="ok") == 1
    bots = {"method": "POST", "route": "/bots/{name}", "status": "200"}
    assert grew("scriptbots_http_requests_total", **bots) == 1
    console = {"method": "POST", "route": "/api/v1/scripts/{name}/run", "status": "200"}
    assert grew("scriptbots_http_requests_total", **console) == 1
    assert (
        grew(
            "scriptbots_http_requests_total",
            method="PATCH",
            route="/api/v1/scripts/{name}",
            status="200",
        )
        == 1
    )
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert grew("scriptbots_http_requests_total", **unmatched) == 1
    assert (
        grew("scriptbots_http_request_duration_seconds_count", method="POST", route="/bots/{name}")
        == 1
    )
    # No raw path ever becomes a label: scanners cannot grow the series.
    assert not any("12345" in str(labels) for _, labels in after)
    assert value(after, "scriptbots_active_runs") == 0
    assert value(after, "scriptbots_sandbox_pool_slots") > 0
    assert value(after, "scriptbots_sandbox_warm") == 1
    assert value(after, "scriptbots_sandbox_runs_total", template="lean") >= 2


async def test_a_refused_bot_call_counts_as_refused(service: Service, creator: CreatorInfo) -> None:
    name = service.script(
        creator,
        'try:\n    poe.call("Refusing", "x")\nexcept poe.BotError:\n    print("no")',
        access_key=ACCESS_KEY,
    )
    before = scrape(service)
    assert await ask(service, name, ACCESS_KEY, "x") == "no"
    after = scrape(service)
    key = ("scriptbots_bot_calls_total", frozenset({("kind", "upstream"), ("outcome", "refused")}))
    assert after.get(key, 0) - before.get(key, 0) == 1
