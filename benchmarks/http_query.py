"""``make bench``: a hosted script against a plain in-process fastapi_poe bot, over HTTP.

    python -m benchmarks.http_query [--requests N] [--burst N]

In one run, on loopback, driven by the same client (httpx, keep-alive, SSE read line by
line): a real ``scriptbots serve`` (a fresh SQLite file, or PostgreSQL database with
``--database postgresql``; default settings otherwise) and a
``fastapi_poe.make_app`` server of plain bots doing the same work in-process, served by
uvicorn the same way. That server is also the upstream of the hosted scripts' bot calls
(``POE_API_BASE``). Printed, with the hosted/in-process ratio where both exist (issue 15):

- hello world, sequential: p50/p99 of request -> ``done``; CPU per request of the server
  process (and of the sandbox: its template with the children it reaped), from /proc;
- throughput with 8 clients at once (req/s), and how many runs were refused by the quota;
- a ticking script: its first text after the request, and after the script wrote it
  (the text carries the script's ``time.time()``);
- 1,000 prints; one upstream bot call; a fan-out of 10 calls (``poe.parallel``);
- a 100 KB source (after its first run);
- ``meta`` for a burst of new streams at once (p50/p99).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.load import Answer, Reading, at_once, query_body

ACCESS_KEY = "BenchUpstreamAccessKey0123456789"  # make_app wants exactly 32 characters
SECRET_KEY = "bench-secret-key-" + "x" * 32
SCRIPTBOTS = str(Path(sys.executable).parent / "scriptbots")
TICK_S = 0.2

HELLO = 'print("Hello, " + poe.query.text)'
TICKER = (
    f'import time\nfor i in range(3):\n    print(f"{{time.time()}}")\n    time.sleep({TICK_S})\n'
)
PRINTS = "for i in range(1000):\n    print(i)\n"
ONE_CALL = 'print(poe.call("Echo", "hi").text)'
FAN_OUT = (
    'replies = poe.parallel(*[lambda i=i: poe.call("Echo", str(i)).text for i in range(10)])\n'
    'print(" ".join(replies))\n'
)
_FILLER = (
    "def helper_{n}(text):\n    words = [w.strip('.,') for w in text.split()]\n"
    "    return ' '.join(reversed(words)) + '{n}'\n\n"
)


def large_source(size: int = 100 * 1024) -> str:
    parts, n = [], 0
    while sum(map(len, parts)) < size:
        parts.append(_FILLER.format(n=n))
        n += 1
    return "".join(parts) + HELLO + "\n"


# -- the in-process baseline (also the upstream of bot calls) ---------------------------


def baseline_app() -> Any:
    """``fastapi_poe.make_app`` over bots that do in-process what the scripts do."""
    import fastapi_poe as fp

    session = httpx.AsyncClient(timeout=60)  # a good in-process bot keeps one client
    upstream: dict[str, str] = {}

    def text_of(request: fp.QueryRequest) -> str:
        return request.query[-1].content

    async def call_echo(text: str) -> str:
        query = fp.QueryRequest(
            version=fp.client.PROTOCOL_VERSION,
            type="query",
            query=[fp.ProtocolMessage(role="user", content=text)],
            user_id="u",
            conversation_id="c",
            message_id="m",
        )
        parts = [
            part.text
            async for part in fp.stream_request(
                query, "Echo", ACCESS_KEY, session=session, base_url=upstream["base"]
            )
        ]
        return "".join(parts)

    class Bot(fp.PoeBot):
        def __init__(self, name: str, answer: Callable[[fp.QueryRequest], AsyncIterator[str]]):
            super().__init__(path=f"/{name}", access_key=ACCESS_KEY)
            self._answer = answer
            self._meta = name != "Echo"  # the upstream of the bot calls answers bare

        async def get_response(self, request: fp.QueryRequest) -> AsyncIterator[Any]:
            if self._meta:  # what the hosted bots send first too (SPEC §7: meta at once)
                yield fp.MetaResponse(text="", content_type="text/markdown", linkify=True)
            async for text in self._answer(request):
                yield fp.PartialResponse(text=text)

    async def hello(request: fp.QueryRequest) -> AsyncIterator[str]:
        yield "Hello, " + text_of(request)

    async def echo(request: fp.QueryRequest) -> AsyncIterator[str]:
        yield text_of(request)

    async def ticker(request: fp.QueryRequest) -> AsyncIterator[str]:
        for i in range(3):
            yield f"{time.time()}" if i == 0 else f"\n\n{time.time()}"
            await asyncio.sleep(TICK_S)

    async def prints(request: fp.QueryRequest) -> AsyncIterator[str]:
        for i in range(1000):
            yield f"{i}" if i == 0 else f"\n\n{i}"

    async def one_call(request: fp.QueryRequest) -> AsyncIterator[str]:
        yield await call_echo("hi")

    async def fan_out(request: fp.QueryRequest) -> AsyncIterator[str]:
        replies = await asyncio.gather(*(call_echo(str(i)) for i in range(10)))
        yield " ".join(replies)

    bots = {
        "Hello": hello,
        "Echo": echo,
        "Ticker": ticker,
        "Prints": prints,
        "OneCall": one_call,
        "FanOut": fan_out,
    }
    app = fp.make_app([Bot(name, answer) for name, answer in bots.items()])

    @app.on_event("startup")
    async def _base() -> None:  # the server's own address, for the calls to Echo
        upstream["base"] = os.environ["BENCH_UPSTREAM_BASE"]

    return app


def serve_baseline(port: int) -> None:
    import uvicorn

    os.environ["BENCH_UPSTREAM_BASE"] = f"http://127.0.0.1:{port}/"
    uvicorn.run(baseline_app(), host="127.0.0.1", port=port, log_config=None, log_level="warning")


# -- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(url: str, process: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    """Until ``url`` answers 200 (the process must stay alive meanwhile)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer in time")
        time.sleep(0.1)


@contextmanager
def started(
    argv: list[str], env: dict[str, str], cwd: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """utime + stime of ``pid`` (with ``reaped``: and of the children it waited for)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


@dataclass
class Cpu:
    """CPU seconds of a server process and of its sandbox template (with reaped children)."""

    pid: int
    sandbox: list[int] = field(default_factory=list)

    def sample(self) -> tuple[float, float]:
        own = cpu_seconds(self.pid)
        sandbox = 0.0
        for pid in self.sandbox:
            with suppress(FileNotFoundError, ProcessLookupError):
                sandbox += cpu_seconds(pid, reaped=True)
        return own, sandbox


# -- the client ----------------------------------------------------------------------------


async def ask(client: httpx.AsyncClient, url: str, key: str) -> Answer:
    reading = Reading(time.perf_counter())
    headers = {"Authorization": f"Bearer {key}"}
    async with client.stream("POST", url, json=query_body(), headers=headers) as response:
        if response.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {response.status_code} {await response.aread()!r}")
        name = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:") and name:
                reading.add(name, line[5:].strip(), time.perf_counter())
                name = ""
    return reading.answer(url)


def response_text(answer: Answer) -> str:
    text = ""
    for name, data in answer.events:
        if name == "text":
            text += json.loads(data)["text"]
        elif name == "replace_response":
            text = json.loads(data)["text"]
    return text


def errors(answer: Answer) -> list[str]:
    return [json.loads(data)["text"] for name, data in answer.events if name == "error"]


@dataclass
class Target:
    """One server under test: its bot URLs by scenario, the key, its process."""

    label: str
    urls: dict[str, str]
    key: str
    cpu: Cpu


# -- measures ------------------------------------------------------------------------------


def pct(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def sequential(
    client: httpx.AsyncClient, target: Target, scenario: str, runs: int
) -> tuple[list[Answer], float, float]:
    """``runs`` answers one after another; server and sandbox CPU seconds per request."""
    url = target.urls[scenario]
    for _ in range(3):
        await ask(client, url, target.key)  # warm caches (and the compile cache, if any)
    own0, box0 = target.cpu.sample()
    answers = [await ask(client, url, target.key) for _ in range(runs)]
    own1, box1 = target.cpu.sample()
    for answer in answers:
        if errors(answer):
            raise RuntimeError(f"{target.label} {scenario}: {errors(answer)[0]}")
    return answers, (own1 - own0) / runs, (box1 - box0) / runs


async def throughput(
    client: httpx.AsyncClient, target: Target, total: int, clients: int = 8
) -> tuple[float, int]:
    """Requests per second with ``clients`` at once; how many runs ended in an error."""
    url = target.urls["hello"]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    failed = 0

    async def worker() -> None:
        nonlocal failed
        while not queue.empty():
            queue.get_nowait()
            if errors(await ask(client, url, target.key)):
                failed += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return total / (time.perf_counter() - began), failed


async def burst(target: Target, count: int) -> list[float]:
    """``count`` new hello-world streams at once (load.py's client): their meta times."""
    answers = await at_once([(target.urls["hello"], target.key)] * count)
    failed = [a for a in answers if not isinstance(a, Answer)]
    if failed:
        raise RuntimeError(f"{len(failed)} of the burst failed: {failed[0]!r}")
    return [a.meta_s for a in answers if isinstance(a, Answer)]


def first_text_after_write(answer: Answer) -> float:
    """Seconds from the script's ``time.time()`` (its first text) to the client having it."""
    first = next(json.loads(d)["text"] for n, d in answer.events if n == "text")
    assert answer.first_text_at is not None
    return answer.first_text_at - float(first.split()[0])


# -- set-up --------------------------------------------------------------------------------


def create_scripts(base: str, token: str, sources: dict[str, str]) -> dict[str, str]:
    names = {}
    for scenario, source in sources.items():
        name = f"bench_{scenario}_{secrets.token_hex(3)}"
        response = httpx.post(
            f"{base}/api/v1/scripts",
            json={"name": name, "source": source, "poe_access_key": ACCESS_KEY},
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )
        if response.status_code != 201:
            raise RuntimeError(f"creating {scenario}: {response.status_code} {response.text}")
        names[scenario] = f"{base}/bots/{name}"
    return names


BASELINE_BOTS = {
    "hello": "Hello",
    "ticker": "Ticker",
    "prints": "Prints",
    "one_call": "OneCall",
    "fan_out": "FanOut",
}


async def measure(args: argparse.Namespace, hosted: Target, baseline: Target) -> None:
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        rows: list[tuple[str, float | None, float | None, str]] = []

        def row(name: str, ours: float | None, theirs: float | None, unit: str = "ms") -> None:
            rows.append((name, ours, theirs, unit))

        n = args.requests
        results = {}
        for target in (hosted, baseline):
            answers, own, box = await sequential(client, target, "hello", n)
            done = [a.done_s * 1000 for a in answers]
            results[target.label] = (done, own, box)
        (h_done, h_own, h_box), (b_done, b_own, _) = results.values()
        row("hello world p50", pct(h_done, 0.5), pct(b_done, 0.5))
        row("hello world p99", pct(h_done, 0.99), pct(b_done, 0.99))
        row("CPU/request, server process", h_own * 1000, b_own * 1000)
        row("CPU/request, sandbox (template+children)", h_box * 1000, None)
        row("CPU/request, all", (h_own + h_box) * 1000, b_own * 1000)

        h_rate, h_failed = await throughput(client, hosted, n * 2)
        b_rate, _ = await throughput(client, baseline, n * 2)
        row("throughput, 8 clients", h_rate, b_rate, "req/s")

        for scenario, label, runs in (
            ("ticker", "ticking script: first text", 10),
            ("prints", "1,000 prints", 20),
            ("one_call", "one upstream bot call", 30),
            ("fan_out", "fan-out of 10 bot calls", 20),
        ):
            figures = []
            for target in (hosted, baseline):
                answers, _, _ = await sequential(client, target, scenario, runs)
                if scenario == "ticker":
                    figures.append([a.first_text_s * 1000 for a in answers if a.first_text_s])
                    written = [first_text_after_write(a) * 1000 for a in answers]
                    row(
                        f"ticking script: first text after write ({target.label})",
                        pct(written, 0.5),
                        None,
                    )
                else:
                    figures.append([a.done_s * 1000 for a in answers])
            row(f"{label} p50", pct(figures[0], 0.5), pct(figures[1], 0.5))

        answers, _, _ = await sequential(client, hosted, "large", 20)
        row(
            "100 KB source p50 (after its first run)",
            pct([a.done_s * 1000 for a in answers], 0.5),
            pct(h_done, 0.5),
        )
        metas = {}
        for target in (hosted, baseline):
            metas[target.label] = await burst(target, args.burst)
        (h_meta, b_meta) = metas.values()
        row(
            f"meta in a burst of {args.burst}, p50",
            pct(h_meta, 0.5) * 1000,
            pct(b_meta, 0.5) * 1000,
        )
        row(
            f"meta in a burst of {args.burst}, p99",
            pct(h_meta, 0.99) * 1000,
            pct(b_meta, 0.99) * 1000,
        )

    print(f"{'':56} {'hosted':>10} {'in-process':>10} {'ratio':>7}")
    for name, ours, theirs, unit in rows:
        ratio = f"{ours / theirs:7.2f}" if ours is not None and theirs else ""
        theirs_text = f"{theirs:10.2f}" if theirs is not None else " " * 10
        ours_text = f"{ours:10.2f}" if ours is not None else " " * 10
        print(f"{name:<56} {ours_text} {theirs_text} {ratio} {unit}")
    print("(100 KB source: ratio against hosted hello world)")
    print(f"runs refused at 8 clients (quota): {h_failed}")
    targets = [
        ("hello world p50 ratio <= 1.5", pct(h_done, 0.5) / pct(b_done, 0.5) <= 1.5),
        ("throughput at 8 clients >= 0.5x", h_rate / b_rate >= 0.5),
        ("CPU per request <= 5 ms (server process)", h_own * 1000 <= 5),
        (f"meta of a burst of {args.burst} p99 <= 0.5 s", pct(h_meta, 0.99) <= 0.5),
    ]
    for name, met in targets:
        print(f"target {name}: {'met' if met else 'NOT met'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the server's database: a fresh one, removed afterwards (PostgreSQL at "
        "BENCH_POSTGRES_URL or TEST_POSTGRES_URL, as make bench-scale)",
    )
    parser.add_argument("--serve-baseline", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return 0
    from benchmarks.scale import database  # it imports this module's helpers

    with (
        tempfile.TemporaryDirectory(prefix="bench-http-") as scratch,
        database(args.database, Path(scratch)) as database_url,
    ):
        work = Path(scratch)
        print(f"database: {args.database}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCRIPTBOTS_")}
        up_port, port = free_port(), free_port()
        upstream_base = f"http://127.0.0.1:{up_port}/"
        baseline_argv = [sys.executable, "-m", "benchmarks.http_query", "--serve-baseline"]
        with started(
            [*baseline_argv, str(up_port)], env, Path.cwd(), work / "baseline.log"
        ) as baseline:
            wait_up(f"{upstream_base}Hello", baseline)
            served = {
                **env,
                "SCRIPTBOTS_DATABASE_URL": database_url,
                "SCRIPTBOTS_SECRET_KEY": SECRET_KEY,
                "SCRIPTBOTS_POE_API_BASE": upstream_base,
            }
            token = subprocess.run(
                [SCRIPTBOTS, "creator", "create", f"bench_{secrets.token_hex(4)}"],
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
                urls = create_scripts(
                    base,
                    token,
                    {
                        "hello": HELLO,
                        "ticker": TICKER,
                        "prints": PRINTS,
                        "one_call": ONE_CALL,
                        "fan_out": FAN_OUT,
                        "large": large_source(),
                    },
                )
                hosted = Target("hosted", urls, token, Cpu(server.pid, children(server.pid)))
                plain = Target(
                    "in-process",
                    {k: upstream_base + v for k, v in BASELINE_BOTS.items()},
                    ACCESS_KEY,
                    Cpu(baseline.pid),
                )
                asyncio.run(measure(args, hosted, plain))
    return 0


if __name__ == "__main__":
    sys.exit(main())
