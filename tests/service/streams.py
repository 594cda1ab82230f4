"""Queries to a real server's /bots endpoint over raw HTTP: the Poe events one by one, as the
wire carries them, so that a test can act in the middle of a stream."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fastapi_poe as fp
import httpx
import httpx_sse

Event = tuple[str, dict[str, Any]]


def query_body(text: str = "Hello") -> dict[str, Any]:
    return {
        "version": fp.client.PROTOCOL_VERSION,
        "type": "query",
        "query": [{"role": "user", "content": text}],
        "user_id": "u-" + secrets.token_hex(4),
        "conversation_id": "c-" + secrets.token_hex(4),
        "message_id": "m-" + uuid.uuid4().hex,
    }


@contextmanager
def bot_stream(
    base: str, name: str, token: str, timeout_s: float = 60
) -> Iterator[Iterator[Event]]:
    """The events of one query to ``/bots/{name}``, as they arrive (pings left out)."""
    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(timeout=timeout_s) as client,
        httpx_sse.connect_sse(
            client, "POST", f"{base}/bots/{name}", json=query_body(), headers=headers
        ) as source,
    ):
        assert source.response.status_code == 200, source.response.read()
        yield (
            (event.event, json.loads(event.data))
            for event in source.iter_sse()
            if event.event != "ping"
        )


def bot_events(base: str, name: str, token: str) -> list[Event]:
    with bot_stream(base, name, token) as events:
        return list(events)
