"""``make bench``: the server's memory while runs move 50 MB attachments through it (issue 11).

    python -m benchmarks.attachment_memory [--runs N] [--mb N]

A real ``scriptbots serve`` (SQLite in a scratch directory, private fetches allowed) and a
loopback file server streaming ``--mb`` MB bodies. Printed: the server process's resident
memory (VmRSS) once warm, and its peak (VmHWM, reset before each phase) while

- ``--runs`` queries at once each fetch two such bodies (``Attachment.get_contents``);
- ``--runs`` console runs at once each attach a file of that size (kept by the service);
- one such kept file is downloaded from ``/files/{id}``.

Before issue 11 a run fetching 50 MB bodies took the server from 106 MB to 799 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from benchmarks.http_query import SCRIPTBOTS, SECRET_KEY, free_port, started, wait_up

MIB = 1024 * 1024
FETCHES = """
sizes = [len(a.get_contents()) for a in poe.query.attachments]
print(" ".join(str(size) for size in sizes))
"""
ATTACHES = """
msg = poe.default_chat.start_message()
msg.attach_file(name="big.bin", contents=bytes({size}))
print("attached")
"""


def file_server(port: int, size: int) -> None:
    """A plain ASGI app under uvicorn, in a thread: ``size`` zero bytes, 1 MiB per send."""
    import uvicorn

    chunk = bytes(MIB)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")],
            }
        )
        left = size
        while left > 0:
            piece = chunk[: min(left, MIB)]
            left -= len(piece)
            await send({"type": "http.response.body", "body": piece, "more_body": left > 0})

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level="error")
    threading.Thread(target=uvicorn.Server(config).run, daemon=True).start()


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return int(fields["VmRSS"][0]) / 1024, int(fields["VmHWM"][0]) / 1024


def reset_peak(pid: int) -> None:
    # 5: reset the peak resident set size to the current one (proc(5), clear_refs).
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def create_script(base: str, token: str, source: str) -> str:
    name = f"bench_mem_{secrets.token_hex(3)}"
    response = httpx.post(
        f"{base}/api/v1/scripts",
        json={"name": name, "source": source, "settings": {"allow_attachments": True}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    )
    if response.status_code != 201:
        raise RuntimeError(f"creating a script: {response.status_code} {response.text}")
    return name


async def sse(client: httpx.AsyncClient, url: str, body: dict[str, Any], token: str) -> str:
    """The text and files of one streamed answer, joined; raises on an error event."""
    parts: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with client.stream("POST", url, json=body, headers=headers) as response:
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event in ("text", "file", "error"):
                data = json.loads(line[6:])
                if event == "error":
                    raise RuntimeError(data.get("text"))
                parts.append(data.get("text") or data.get("url") or "")
    return "".join(parts)


async def measure(
    base: str, token: str, files_base: str, pid: int, args: argparse.Namespace
) -> None:
    size = args.mb * MIB
    fetcher = create_script(base, token, FETCHES)
    attacher = create_script(base, token, ATTACHES.format(size=size))
    timeout = httpx.Timeout(600, connect=30)
    async with httpx.AsyncClient(timeout=timeout) as client:
        attachment = {"url": f"{files_base}/a.bin", "content_type": "application/octet-stream"}

        def query() -> dict[str, Any]:
            return {
                "version": "1.2",
                "type": "query",
                "query": [
                    {
                        "role": "user",
                        "content": "sizes",
                        "attachments": [
                            {**attachment, "name": "a.bin"},
                            {**attachment, "url": attachment["url"] + "?2", "name": "b.bin"},
                        ],
                    }
                ],
                "user_id": "u-bench",
                "conversation_id": "c-" + secrets.token_hex(4),
                "message_id": "m-" + uuid.uuid4().hex,
            }

        warm = await sse(client, f"{base}/bots/{fetcher}", query(), token)  # warm up, once
        assert warm.split() == [str(size)] * 2, warm
        rss, _ = memory_mb(pid)
        print(f"server resident memory, warm: {rss:.0f} MB")

        reset_peak(pid)
        began = time.perf_counter()
        answers = await asyncio.gather(
            *(sse(client, f"{base}/bots/{fetcher}", query(), token) for _ in range(args.runs))
        )
        elapsed = time.perf_counter() - began
        assert all(a.split() == [str(size)] * 2 for a in answers), answers
        _, peak = memory_mb(pid)
        print(
            f"fetch: {args.runs} runs at once, each 2 x {args.mb} MB: server peak {peak:.0f} MB "
            f"(+{peak - rss:.0f} MB over warm), {elapsed:.1f} s"
        )

        reset_peak(pid)
        began = time.perf_counter()
        console = f"{base}/api/v1/scripts/{attacher}/run"
        kept = await asyncio.gather(
            *(sse(client, console, {"query": "go"}, token) for _ in range(args.runs))
        )
        elapsed = time.perf_counter() - began
        _, peak = memory_mb(pid)
        print(
            f"upload: {args.runs} runs at once, each {args.mb} MB kept: server peak {peak:.0f} MB "
            f"(+{peak - rss:.0f} MB over warm), {elapsed:.1f} s"
        )

        url = kept[0].split("attached")[0]
        reset_peak(pid)
        received = 0
        async with client.stream("GET", url) as response:
            async for chunk in response.aiter_bytes():
                received += len(chunk)
        assert received == size, received
        _, peak = memory_mb(pid)
        print(
            f"download of one kept {args.mb} MB file: server peak {peak:.0f} MB "
            f"(+{peak - rss:.0f} MB over warm)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--mb", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as scratch:
        work = Path(scratch)
        files_port, port = free_port(), free_port()
        file_server(files_port, args.mb * MIB)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCRIPTBOTS_")}
        served = {
            **env,
            "SCRIPTBOTS_DATABASE_URL": f"sqlite:///{work / 'scriptbots.db'}",
            "SCRIPTBOTS_SECRET_KEY": SECRET_KEY,
            "SCRIPTBOTS_FETCH_ALLOW_PRIVATE": "true",
        }
        token = subprocess.run(
            [SCRIPTBOTS, "creator", "create", "bench"],
            env=served,
            cwd=work,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        argv = [SCRIPTBOTS, "serve", "--port", str(port)]
        with started(argv, served, work, work / "serve.log") as server:
            base = f"http://127.0.0.1:{port}"
            wait_up(f"{base}/readyz", server)
            asyncio.run(measure(base, token, f"http://127.0.0.1:{files_port}", server.pid, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
