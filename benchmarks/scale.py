"""``make bench-scale``: N hello-world queries at once against a real server, on SQLite and
on PostgreSQL (issue 12: Poe wants the first event of a response within 5 s).

    python -m benchmarks.scale [--queries 500] [--creators 10] [--databases sqlite,postgresql]

For each database: a fresh one (SQLite in a scratch directory; PostgreSQL a new database on
``BENCH_POSTGRES_URL``, default ``TEST_POSTGRES_URL`` or the local ``test`` cluster, dropped
after), a ``scriptbots serve`` with default settings but a creator quota that lets all the
queries in, ``--creators`` creators with a hello-world script each, and all the queries
sent at once, spread over the creators. Printed per database: how many ``meta`` events and
how many first texts came later than 5 s after their request, with p50/p99 of both, and the
whole responses' p50/p99; queries that failed are counted, not timed.
The queries come from ``load.py``'s cheap client, which shares the two cores with the server.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

from benchmarks.http_query import SCRIPTBOTS, SECRET_KEY, ask, free_port, pct, started, wait_up
from benchmarks.load import Answer, at_once

POE_DEADLINE_S = 5.0
HELLO = 'print("Hello, " + poe.query.text)'
POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL",
    os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
)


@contextmanager
def database(kind: str, work: Path) -> Iterator[str]:
    """The URL of a fresh database of ``kind``, removed afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{work / 'scale.db'}"
        return
    url = make_url(POSTGRES_URL)
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"scriptbots_bench_{secrets.token_hex(4)}"
    with psycopg.connect(libpq, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def creators(env: dict[str, str], work: Path, count: int, base: str) -> list[tuple[str, str]]:
    """``count`` creators, each with a hello-world script: (token, bot URL)."""
    made = []
    for _ in range(count):
        token = subprocess.run(
            [SCRIPTBOTS, "creator", "create", f"scale{secrets.token_hex(4)}"],
            env=env,
            cwd=work,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        name = f"scale_{secrets.token_hex(4)}"
        response = httpx.post(
            f"{base}/api/v1/scripts",
            json={"name": name, "source": HELLO},
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )
        response.raise_for_status()
        made.append((token, f"{base}/bots/{name}"))
    return made


async def fire(bots: list[tuple[str, str]], queries: int) -> tuple[list[Answer], list[str]]:
    """All the queries at once, spread over ``bots``; the answers, and the failures."""
    async with httpx.AsyncClient(timeout=120) as client:
        await ask(client, bots[0][1], bots[0][0])  # one warm-up query, not counted
    results = await at_once(
        [(bots[i % len(bots)][1], bots[i % len(bots)][0]) for i in range(queries)]
    )
    answers = [r for r in results if isinstance(r, Answer)]
    failures = [repr(r)[:200] for r in results if not isinstance(r, Answer)]
    return answers, failures


def report(kind: str, answers: list[Answer], failures: list[str], queries: int) -> None:
    meta = [a.meta_s for a in answers]
    text = [a.first_text_s for a in answers if a.first_text_s is not None]
    done = [a.done_s for a in answers]
    refused = sum(1 for a in answers if any(name == "error" for name, _ in a.events))
    print(f"\n{kind}: {queries} hello-world queries at once")
    for label, values in (("meta", meta), ("first text", text), ("done", done)):
        if not values:
            print(f"  {label:<10}  none")
            continue
        late = sum(1 for value in values if value > POE_DEADLINE_S)
        print(
            f"  {label:<10}  later than 5 s: {late:>4}   p50 {pct(values, 0.5):6.2f} s"
            f"   p99 {pct(values, 0.99):6.2f} s   max {max(values):6.2f} s"
        )
    print(f"  ended with an error event: {refused}; failed requests: {len(failures)}")
    for failure in failures[:3]:
        print(f"    {failure}")


def measure(kind: str, args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch,
        database(kind, Path(scratch)) as url,
    ):
        work = Path(scratch)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCRIPTBOTS_")}
        env |= {
            "SCRIPTBOTS_DATABASE_URL": url,
            "SCRIPTBOTS_SECRET_KEY": SECRET_KEY,
            "SCRIPTBOTS_CREATOR_MAX_CONCURRENT_RUNS": str(
                math.ceil((args.queries + 1) / args.creators)
            ),
        }
        port = free_port()
        with started(
            [SCRIPTBOTS, "serve", "--port", str(port)], env, work, work / "serve.log"
        ) as server:
            base = f"http://127.0.0.1:{port}"
            wait_up(f"{base}/readyz", server)
            bots = creators(env, work, args.creators, base)
            answers, failures = asyncio.run(fire(bots, args.queries))
        report(kind, answers, failures, args.queries)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--creators", type=int, default=10)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    for kind in args.databases.split(","):
        measure(kind.strip(), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
