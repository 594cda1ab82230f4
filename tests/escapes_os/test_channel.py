"""The channel to the host, with the restricted layer off: a child that writes to its socket
directly (descriptors passed along, messages only the host sends, reused ids, more requests
than the host serves at once) is stopped, and the host goes on unharmed. Garbage, huge frame
lengths and unknown msg_ids: tests/sandbox/process/test_hostile_child.py.

Stopped by: the host (supervisor.py): it reads frames with plain ``recv`` (descriptors sent
along are closed by the kernel, never installed), refuses lengths beyond MAX_FRAME_BYTES
before reading them, decodes only with ``protocol.decode``, checks every msg_id and caps
requests in flight (fetches and uploads: MAX_TRANSFERS_IN_FLIGHT at once, the others wait);
a child that breaks the protocol, or sends any frame the decoder chokes on, is killed at
once; the channel reads one child's frames no faster than its FrameRate (channel.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

import pytest

from sandbox import SandboxPool
from sandbox.channel import FrameRate
from sandbox.protocol import AttachmentAdded
from sandbox.supervisor import MAX_IN_FLIGHT, MAX_TRANSFERS_IN_FLIGHT
from tests.escapes_os.harness import attempt, outcome_of
from tests.sandbox.process.harness import QUICK, TestServices, run

pytestmark = pytest.mark.asyncio(loop_scope="module")

_RAW = (
    "import os, socket, time\nfrom sandbox import protocol\n"
    "channel = socket.socket(fileno=os.dup(3))\n"
)

# A harmless frame (a cancel for a call that does not exist) carrying the read end of a pipe:
# once the host has read the frame, writing to the pipe fails unless the host kept the end.
SEND_DESCRIPTOR = _RAW + (
    "r, w = os.pipe()\n"
    "socket.send_fds(channel, [protocol.encode(protocol.BotCallCancel(999))], [r])\n"
    "os.close(r)\n"
    "for _ in range(40):\n"
    "    time.sleep(0.05)\n"
    "    os.write(w, b'x')\n"
)
HOST_MESSAGE = _RAW + (
    'body = b\'{"t": "RunStart", "source": 1}\'\n'
    "channel.sendall(protocol.HEADER.pack(len(body)) + body)\ntime.sleep(5)\n"
)
REQUEST_FLOOD = _RAW + (
    "request = protocol.BotCallRequest('Echo', [{'role': 'user', 'content': 'hi'}])\n"
    f"ids = range({MAX_IN_FLIGHT} + 8)\n"
    "frames = [protocol.encode(protocol.BotCallStart(i, request)) for i in ids]\n"
    "channel.sendall(b''.join(frames))\n"  # at once: the host reads them all before serving any
    "time.sleep(5)\n"
)
REUSED_REQUEST_ID = _RAW + (
    "channel.sendall(protocol.encode(protocol.UploadRequest(7, 'a.txt', 0)) * 2)\ntime.sleep(5)\n"
)
# Each fetch or upload costs the host a spool or a connection: 64 at once from one run would
# be too many. The host serves a few at a time; the others wait their turn.
TRANSFER_FLOOD = _RAW + (
    "for i in range(24):\n"
    "    channel.sendall(protocol.encode(protocol.FetchRequest(i, 'memory://big')))\n"
    "    channel.sendall(protocol.encode(protocol.UploadRequest(100 + i, 'a.bin', 1000)))\n"
    "    channel.sendall(protocol.encode(protocol.UploadChunk(100 + i, b'x' * 1000)))\n"
    "time.sleep(3)\n"
)

# Upload pieces the host never asked for: more than declared, or of no upload at all.
UPLOAD_OVERFLOW = _RAW + (
    "channel.sendall(protocol.encode(protocol.UploadRequest(5, 'a.bin', 10)))\n"
    "channel.sendall(protocol.encode(protocol.UploadChunk(5, b'x' * 11)))\n"
    "time.sleep(5)\n"
)
STRAY_UPLOAD_CHUNK = _RAW + (
    "channel.sendall(protocol.encode(protocol.UploadChunk(9, b'x')))\ntime.sleep(5)\n"
)
# Past SPEC's 50 MB the host reads the pieces and drops them: nothing is spooled for the
# service, and the script learns why.
OVERSIZED_UPLOAD = """
try:
    poe.start_message().attach_file(name="big.bin", contents=bytes(51 * 1024 * 1024))
except poe.BotError as exc:
    print(exc)
"""

# json.loads raises a plain ValueError on an integer longer than 4300 digits (not a
# JSONDecodeError): the host must stop the child at once, not wait for its time limit.
HUGE_INTEGER = _RAW + (
    "body = b'{\"t\":\"Started\",\"x\":' + b'9' * 5000 + b'}'\n"
    "channel.sendall(protocol.HEADER.pack(len(body)) + body)\ntime.sleep(30)\n"
)

# Frames the host accepts and ignores (cancels of calls that do not exist), as fast as the
# child can write them: the host reads them no faster than its FrameRate.
FRAME_FLOOD = _RAW + (
    "frame = protocol.encode(protocol.BotCallCancel(999))\n"
    "for _ in range(30):\n"
    "    channel.sendall(frame * 100)\n"
)
# Attachments whose URL the child made up, written as raw frames (the runtime itself would
# fetch and re-upload a third-party URL): only the one the host uploaded may show.
CLAIMED_URLS = _RAW + (
    "m = poe.start_message()\nm.write('done')\n"
    "m.attach_file(name='real.txt', contents=b'mine')\n"
    "script = protocol.AttachmentInfo('javascript:alert(document.cookie)', 'text/html', 'x')\n"
    "channel.sendall(protocol.encode(protocol.AttachmentAdded(0, script)))\n"
    "tracker = protocol.AttachmentInfo('https://tracker.example/p.png', 'image/png', 'p')\n"
    "added = protocol.MessageAdded(1, 'bot', 'more', attachments=[tracker])\n"
    "channel.sendall(protocol.encode(added))\n"
    "m.finish()\n"
)
SLOW_RATE = FrameRate(frames_per_s=1000, bytes_per_s=10**9, burst_s=0.2)

_MISBEHAVED = "The sandbox process misbehaved and was stopped."


async def test_descriptors_sent_to_the_host_are_dropped__host(open_pool: SandboxPool) -> None:
    assert await attempt(open_pool, SEND_DESCRIPTOR) == ("BLOCKED", "BrokenPipeError", "EPIPE")


@pytest.mark.parametrize(
    "source",
    [
        HOST_MESSAGE,
        REQUEST_FLOOD,
        REUSED_REQUEST_ID,
        HUGE_INTEGER,
        UPLOAD_OVERFLOW,
        STRAY_UPLOAD_CHUNK,
    ],
    ids=[
        "host-message",
        "bot-call-flood",
        "reused-id",
        "huge-integer",
        "upload-overflow",
        "stray-upload-chunk",
    ],
)
async def test_protocol_abuse_ends_the_run__host(open_pool: SandboxPool, source: str) -> None:
    began = time.monotonic()
    outcome = await outcome_of(open_pool, source)
    assert time.monotonic() - began < QUICK.timeout_s / 2, "the child ran on to its time limit"
    assert outcome.end is not None
    assert (outcome.end.status, outcome.end.error) == ("killed", _MISBEHAVED)
    after = await outcome_of(open_pool, "print('still serving')\n")  # the host is unharmed
    assert after.end is not None and after.end.status == "ok"
    assert after.texts == ["still serving"]


class _Transfers(TestServices):
    """Fetches and uploads that take a while, counting how many the host runs at once."""

    __test__ = False

    def __init__(self) -> None:
        super().__init__(files={"memory://big": b"x" * 1000})
        self.running = self.most = self.served = 0

    async def _slowly(self) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(0.02)
        finally:
            self.running -= 1
            self.served += 1

    async def fetch(self, url: str) -> AsyncIterator[bytes]:
        await self._slowly()
        async for chunk in super().fetch(url):
            yield chunk

    async def upload(self, *args: object) -> object:  # type: ignore[override]
        await self._slowly()
        return await super().upload(*args)  # type: ignore[arg-type]


async def test_transfers_wait_their_turn__host(open_pool: SandboxPool) -> None:
    services = _Transfers()
    await run(open_pool, TRANSFER_FLOOD, services=services)
    assert services.served == 48
    assert services.most == MAX_TRANSFERS_IN_FLIGHT


async def test_a_frame_flood_is_read_at_the_frame_rate__host() -> None:
    pool = SandboxPool(slots=2, spares=0, frame_rate=SLOW_RATE, unrestricted_for_tests=True)
    await pool.start()
    try:
        began = time.monotonic()
        outcome = await outcome_of(pool, FRAME_FLOOD)
        elapsed_s = time.monotonic() - began
    finally:
        await pool.close()
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    # 3000 frames at 1000 a second after a burst of 200: the child waited on its writes.
    assert elapsed_s >= 2.5


async def test_attachment_urls_the_host_never_handed_out_are_left_out__host(
    open_pool: SandboxPool,
) -> None:
    services = TestServices()
    outcome = await run(open_pool, CLAIMED_URLS, services=services)
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    urls = [
        info.url
        for event in outcome.events
        for info in (
            [event.attachment]
            if isinstance(event, AttachmentAdded)
            else getattr(event, "attachments", [])
        )
    ]
    assert urls == ["memory://files/1/real.txt"]
    assert outcome.text == "done\n\nmore"


async def test_an_upload_past_50_mb_never_reaches_the_service__host(
    open_pool: SandboxPool,
) -> None:
    services = TestServices()
    roomy = dataclasses.replace(QUICK, memory_mb=256)
    outcome = await run(open_pool, OVERSIZED_UPLOAD, services=services, limits=roomy)
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    assert "is 53477376 bytes; the limit is 52428800 bytes" in outcome.text
    assert services.uploads == []
