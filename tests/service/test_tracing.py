"""Traces (issue 14), read from OpenTelemetry's in-memory exporter: a Poe query carrying a
``traceparent`` gives a server span continuing that trace, a run span under it, the sandbox
start and the bot call under the run, and database spans; the called bot (a real
fastapi_poe bot on loopback) receives the bot call span's ``traceparent``. Off by default,
where opentelemetry's SDK is not even imported."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, ClassVar

import fastapi_poe as fp
import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from service.app import create_app
from service.settings import Settings
from service.tracing import NO_TRACING, Tracing, tracing_from_environment
from tests.conftest import CreatorInfo, unique_name
from tests.upstream import ACCESS_KEY, RecordingBot, Upstream, serve_bots

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"


class TraceHeadersBot(RecordingBot):
    """Answers "traced" and keeps the headers of each request it got."""

    name = "TraceHeaders"
    seen: ClassVar[list[dict[str, str]]] = []

    async def answer(
        self, request: fp.QueryRequest, context: fp.RequestContext
    ) -> AsyncIterator[Any]:
        self.seen.append(dict(context.http_request.headers))
        yield fp.PartialResponse(text="traced")


@pytest.fixture
def headers_upstream() -> Iterator[Upstream]:
    with serve_bots([TraceHeadersBot]) as server:
        yield server


async def test_a_query_is_traced_from_poe_to_the_called_bot(
    make_settings: Callable[..., Settings],
    creator: CreatorInfo,
    headers_upstream: Upstream,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = make_settings(poe_api_base=headers_upstream.base_url)
    app = create_app(settings, warm_sandbox=False, tracing=Tracing(provider))
    name = unique_name("traced")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            body = {
                "name": name,
                "source": 'print(poe.call("TraceHeaders", "hi").text)',
                "poe_access_key": ACCESS_KEY,
            }
            made = await client.post("/api/v1/scripts", json=body, headers=creator.headers)
            assert made.status_code == 201, made.text
            exporter.clear()
            query = fp.QueryRequest(
                version=fp.client.PROTOCOL_VERSION,
                type="query",
                query=[fp.ProtocolMessage(role="user", content="x")],
                user_id="u",
                conversation_id="c",
                message_id="m",
            )
            answer = await client.post(
                f"/bots/{name}",
                json=query.model_dump(mode="json"),
                headers={"Authorization": f"Bearer {ACCESS_KEY}", "traceparent": TRACEPARENT},
            )
            assert answer.status_code == 200 and "traced" in answer.text
            await app.state.orchestrator.recorded()
    spans = exporter.get_finished_spans()
    by_name = {span.name: span for span in spans}
    server = by_name["POST /bots/{name}"]
    assert format(server.context.trace_id, "032x") == TRACE_ID  # Poe's trace, continued
    assert server.parent is not None and format(server.parent.span_id, "016x") == CALLER_SPAN_ID
    assert server.attributes["http.response.status_code"] == 200
    run = by_name["run"]
    assert run.parent.span_id == server.context.span_id
    assert run.attributes["scriptbots.script"] == name
    assert run.attributes["scriptbots.run.status"] == "ok"
    assert by_name["sandbox start"].parent.span_id == run.context.span_id
    call = by_name["bot call TraceHeaders"]
    assert call.parent.span_id == run.context.span_id
    assert call.attributes["scriptbots.bot_call.kind"] == "upstream"
    # The called bot got the bot call span as its parent.
    headers = TraceHeadersBot.seen.pop()
    assert headers["traceparent"] == f"00-{TRACE_ID}-{format(call.context.span_id, '016x')}-01"
    database = [span for span in spans if span.name.startswith("db ")]
    assert any(span.parent.span_id == run.context.span_id for span in database)  # admission
    assert all(format(span.context.trace_id, "032x") == TRACE_ID for span in spans)


def test_tracing_is_off_without_an_endpoint_and_imports_nothing() -> None:
    assert tracing_from_environment({}) is NO_TRACING
    on = tracing_from_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert isinstance(on, Tracing)
    code = (
        "import sys\n"
        "from service.app import create_app\n"
        "from service.settings import Settings\n"
        "create_app(Settings(_env_file=None, database_url='sqlite://', secret_key='k' * 32))\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
