"""The channel: frames between the asyncio host end and the blocking child end, both real."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading

import pytest

from sandbox.channel import AsyncChannel, ChannelClosed, SyncChannel
from sandbox.protocol import (
    HEADER,
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
    decode,
    encode,
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
HOST_TO_CHILD.append(
    RunStart(source="x = 1", bot_name="b", code=b"\x00compiled\xff" * 5000, environment={"K": "v"})
)
CHILD_TO_HOST = [
    Started(),
    MessageAdded(0, "bot", "hi", attachments=[AttachmentInfo("u", "text/plain", "n")]),
    BotCallStart(1, BotCallRequest("Echo", [{"role": "user", "content": "x"}])),
    UploadRequest(2, "a.bin", 2000),
    UploadChunk(2, b"\x00\xff" * 1000),
    UploadChunk(2, b""),
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


def frame(json_part: bytes, rest: bytes = b"") -> bytes:
    """A frame as ``protocol.encode`` lays it out (the JSON part's length, it, the bytes)."""
    body = struct.pack(">I", len(json_part)) + json_part + rest
    return struct.pack(">I", len(body)) + body


UPLOAD = b'{"t":"UploadChunk","request_id":2,"data":'


@pytest.mark.parametrize(
    "frame",
    [
        frame(b"nope!"),
        frame(b"[]"),
        frame(b'{"t":"Exploit"}  '),
        frame(b'{"t":"RunEnd","x":1}  '),
        frame(b'{"t":"RunEnd","status":"pwned"}'),
        frame(b'{"t":"Started","x":' + b"9" * 5000 + b"}"),
        struct.pack(">I", 2) + b"{}",
        struct.pack(">I", 8) + struct.pack(">I", 99) + b"{}  ",
        frame(UPLOAD + b"[0,5]}", b"abcd"),
        frame(UPLOAD + b"[-1,2]}", b"abcd"),
        frame(UPLOAD + b"[true,2]}", b"abcd"),
        frame(UPLOAD + b"[0,1,2]}", b"abcd"),
        frame(UPLOAD + b'"YWJj"}', b"abcd"),
    ],
    ids=[
        "not-json",
        "not-object",
        "unknown-type",
        "unknown-field",
        "bad-value",
        "huge-int",
        "too-short",
        "json-past-frame",
        "bytes-past-frame",
        "bytes-negative",
        "bytes-bool",
        "bytes-shape",
        "bytes-as-base64",
    ],
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


async def test_a_child_leaving_frames_of_ours_unread_is_read_to_its_last_frame() -> None:
    """A child that exits while the host's last answer is still unread in its socket
    resets the connection; what it sent before (its RunEnd) is still read, then the end.
    Before: the reset dropped those frames, and a busy host recorded the run "killed"."""
    host_sock, child_sock = socket.socketpair()
    host = await AsyncChannel.connect(host_sock)
    await host.send(BotCallEnd(1))  # the child never reads it
    child_sock.sendall(encode(MessageAdded(0, "bot", "last words")) + encode(RunEnd("ok")))
    child_sock.close()
    await asyncio.sleep(0.05)  # the host was busy: the reset came before it read
    assert await asyncio.wait_for(host.read(), 10) == MessageAdded(0, "bot", "last words")
    assert await asyncio.wait_for(host.read(), 10) == RunEnd("ok")
    with pytest.raises(ChannelClosed):
        await asyncio.wait_for(host.read(), 10)
    host.close()


def test_sync_end_reports_a_closed_host() -> None:
    host_sock, child_sock = socket.socketpair()
    host_sock.close()
    with pytest.raises(ChannelClosed):
        SyncChannel(child_sock).read()
    child_sock.close()


def test_bytes_fields_are_read_from_past_the_json_part() -> None:
    body = frame(UPLOAD + b"[1,2]}", b"abcd")[HEADER.size :]
    assert decode(body) == UploadChunk(2, b"bc")
    assert decode(encode(UploadChunk(2, b"\x00" * 10))[HEADER.size :]) == UploadChunk(
        2, b"\x00" * 10
    )
