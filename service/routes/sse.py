"""The HTTP answer for a run's Poe events: ``text/event-stream`` as ``fastapi_poe.make_app``
answers queries. The wire format lives here only; the mapping itself (``PoeEventStream``
and the event builders) lives in ``service/runs/events.py``, below the run that drives it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from contextlib import aclosing

from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse

from service.runs.events import SseEvent


def server_sent_event(event: SseEvent) -> ServerSentEvent:
    return ServerSentEvent(data=event.data, event=event.event)


def encode(event: SseEvent) -> bytes:
    """The bytes on the wire, identical to what ``make_app`` sends (sse-starlette)."""
    return server_sent_event(event).encode()


async def _server_sent_events(stream: AsyncIterable[SseEvent]) -> AsyncIterator[ServerSentEvent]:
    async with aclosing(aiter(stream)) as events:  # type: ignore[type-var]
        async for event in events:
            yield server_sent_event(event)


def sse_response(stream: AsyncIterable[SseEvent]) -> EventSourceResponse:
    """``stream``: a ``runs.run.Run`` or a ``PoeEventStream``. When the client goes away,
    sse-starlette cancels the body: the stream closes the run behind it (its child is
    killed) and the run is recorded ``killed``."""
    return EventSourceResponse(_server_sent_events(stream))
