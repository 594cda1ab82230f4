"""The HTTP answer for a run's Poe events: ``text/event-stream`` as ``fastapi_poe.make_app``
answers queries. The mapping itself (``PoeEventStream`` and the event builders) lives in
``service/runs/events.py``, below the orchestrator that drives it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse


class EventSource(Protocol):
    """A ``PoeEventStream`` or a ``runs.run.Run``."""

    def server_sent_events(self) -> AsyncIterator[ServerSentEvent]: ...


def sse_response(stream: EventSource) -> EventSourceResponse:
    """When the client goes away, sse-starlette cancels the body: the stream closes the run
    behind it (its child is killed) and the run is recorded ``killed``."""
    return EventSourceResponse(stream.server_sent_events())
