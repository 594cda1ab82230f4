"""OpenTelemetry traces, optional: on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (the
standard OTel variables configure the exporter), off otherwise at no cost: ``NO_TRACING``
imports nothing and its spans are ``None``.

Spans: one per HTTP request (``tracing_http.py``, continuing a caller's ``traceparent``), one
per run, and under the run the sandbox start, each bot call (whose ``traceparent`` goes to the
called bot) and the database statements made on the run's behalf. The rest of the service
sees only ``Tracing``: ``start`` a span under a parent, ``end`` it, ``headers`` to pass on,
``current`` to make a span the parent of work started meanwhile (tasks, threads).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

SERVICE_NAME = "scriptbots"


class Tracing:
    """Spans through an OpenTelemetry tracer provider (the SDK's, or a test's)."""

    def __init__(self, provider: Any) -> None:
        from opentelemetry import context, propagate, trace

        self.provider = provider
        self._tracer = provider.get_tracer("scriptbots")
        self._trace = trace
        self._context = context
        self._propagate = propagate

    def start(
        self,
        name: str,
        parent: Any = None,
        *,
        kind: str = "internal",
        headers: Mapping[str, str] | None = None,
        **attributes: Any,
    ) -> Any:
        """A started span under ``parent`` (a span), or under the trace in ``headers``
        (a caller's ``traceparent``), else under the current span."""
        if parent is not None:
            context = self._trace.set_span_in_context(parent)
        elif headers is not None:
            context = self._propagate.extract(headers)
        else:
            context = None
        span_kind = getattr(self._trace.SpanKind, kind.upper())
        clean = {k: v for k, v in attributes.items() if v is not None}
        return self._tracer.start_span(name, context=context, kind=span_kind, attributes=clean)

    @staticmethod
    def end(span: Any, error: BaseException | None = None, **attributes: Any) -> None:
        if span is None:
            return
        for key, value in attributes.items():
            if value is not None:
                span.set_attribute(key, value)
        if error is not None:
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()

    def headers(self, span: Any) -> dict[str, str]:
        """``traceparent`` (and ``tracestate``) naming ``span``, for an outgoing request."""
        carrier: dict[str, str] = {}
        self._propagate.inject(carrier, context=self._trace.set_span_in_context(span))
        return carrier

    @contextlib.contextmanager
    def current(self, span: Any) -> Iterator[None]:
        """``span`` is the parent of spans started in the block, and of tasks and threads
        created in it (they copy the context). Enter and leave within one frame."""
        if span is None:
            yield
            return
        token = self._context.attach(self._trace.set_span_in_context(span))
        try:
            yield
        finally:
            self._context.detach(token)

    def watch_database(self, engine: Any) -> None:
        """A span per SQL statement, under the current span (the request's or the run's);
        none for background work (leases, retention) outside any trace."""
        from sqlalchemy import event

        def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if not self._trace.get_current_span().get_span_context().is_valid:
                return
            operation = statement.split(None, 1)[0].upper() if statement else "SQL"
            span = self.start(
                f"db {operation}",
                kind="client",
                **{"db.system": conn.dialect.name, "db.operation.name": operation},
            )
            conn.info.setdefault("scriptbots.spans", []).append(span)

        def after(conn: Any, *args: Any) -> None:
            spans = conn.info.get("scriptbots.spans")
            if spans:
                spans.pop().end()

        def failed(context: Any) -> None:
            spans = context.connection.info.get("scriptbots.spans") if context.connection else None
            if spans:
                self.end(spans.pop(), context.original_exception)

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        event.listen(engine, "handle_error", failed)


class _NoTracing:
    """Tracing switched off: every span is None and nothing is imported."""

    def start(self, name: str, parent: Any = None, **_: Any) -> None:
        return None

    @staticmethod
    def end(span: Any, error: BaseException | None = None, **attributes: Any) -> None:
        return None

    def headers(self, span: Any) -> dict[str, str]:
        return {}

    def current(self, span: Any) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()

    def watch_database(self, engine: Any) -> None:
        return None


NO_TRACING: Any = _NoTracing()


def tracing_from_environment(environ: Mapping[str, str] = os.environ) -> Any:
    """``Tracing`` exporting over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set,
    else ``NO_TRACING``; the exporter reads the other ``OTEL_*`` variables itself."""
    if not environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return NO_TRACING
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return Tracing(provider)
