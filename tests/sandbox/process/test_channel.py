"""The channel: frames between the asyncio host end and the blocking child end, both real."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading

import pytest

from sandbox.channel import AsyncChannel, ChannelClosed, SyncChannel
from sandbox.protocol import (
    MAX_FRAME_BYTES,
    AttachmentInfo,
    BotCallEnd,
    BotCallPart,
    BotCallRequest,
    BotCallStart,
    Limits,
    MessageAdded,
    ProtocolError,
    RunEnd,
    RunStart,
    Started,
    UploadChunk,
    UploadRequest,
)

HOST_TO_CHILD = [
    RunStart(
        source="print('é')",
        bot_name="b",
        conversation=[{"role": "user", "content": "q"}],
        limits=Limits(timeout_s=1.5),
    ),
    BotCallPart(3, {"text": "part"}),
    BotCallEnd(3, limit="bot_calls"),
]
CHILD_TO_HOST = [
    Started(),
    MessageAdded(0, "bot", "hi", attachments=[AttachmentInfo("u", "text/plain", "n")]),
    BotCallStart(1, BotCallRequest("Echo", [{"role": "user", "content": "x"}])),
    UploadRequest(2, "a.bin", 2000),
    UploadChunk(2, b"\x00\xff" * 1000),
    RunEnd("error", "boom", "memory"),
]


async def test_messages_round_trip_both_ways() -> None:
    host_sock, child_sock = socket.socketpair()
    host = await AsyncChannel.connect(host_sock)
    child = SyncChannel(child_sock)
    received: list[object] = []

    def child_side() -> None:
        for _ in HOST_TO_CHILD:
            received.append(child.read())
        for message in CHILD_TO_HOST:
            child.send(message)

    thread = threading.Thread(target=child_side)
    thread.start()
    for message in HOST_TO_CHILD:
        await host.send(message)
    got = [await asyncio.wait_for(host.read(), 10) for _ in CHILD_TO_HOST]
    thread.join(10)
    assert received == HOST_TO_CHILD
    assert got == CHILD_TO_HOST
    child_sock.close()
    with pytest.raises(ChannelClosed):
        await asyncio.wait_for(host.read(), 10)
    host.close()


@pytest.mark.parametrize(
    "frame",
    [
        struct.pack(">I", 5) + b"nope!",
        struct.pack(">I", 2) + b"[]",
        struct.pack(">I", 17) + b'{"t":"Exploit"}  ',
        struct.pack(">I", 22) + b'{"t":"RunEnd","x":1}  ',
        struct.pack(">I", 31) + b'{"t":"RunEnd","status":"pwned"}',
        struct.pack(">I", 5015) + b'{"t":"Started","x":' + b"9" * 5000 + b"}",
    ],
    ids=["not-json", "not-object", "unknown-type", "unknown-field", "bad-value", "huge-int"],
)
async def test_a_malformed_frame_is_a_protocol_error(frame: bytes) -> None:
    host_sock, child_sock = socket.socketpair()
    host = await AsyncChannel.connect(host_sock)
    child_sock.sendall(frame)
    with pytest.raises(ProtocolError):
        await asyncio.wait_for(host.read(), 10)
    host.close()
    child_sock.close()


async def test_an_oversized_length_is_refused_before_reading_it() -> None:
    host_sock, child_sock = socket.socketpair()
    host = await AsyncChannel.connect(host_sock)
    child_sock.sendall(struct.pack(">I", MAX_FRAME_BYTES + 1))
    with pytest.raises(ProtocolError):
        await asyncio.wait_for(host.read(), 10)
    host.close()
    child_sock.close()


def test_sync_end_reports_a_closed_host() -> None:
    host_sock, child_sock = socket.socketpair()
    host_sock.close()
    with pytest.raises(ChannelClosed):
        SyncChannel(child_sock).read()
    child_sock.close()
