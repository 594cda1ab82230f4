"""Running ``scriptbots`` as real processes: the console script, a free port, a server
polled until it answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from service.security import HASH_PROFILE_ENV

SCRIPTBOTS = str(Path(sys.executable).parent / "scriptbots")
START_TIMEOUT_S = 30


# Queries at once per server process unless a test says otherwise: each template of each
# server holds a uid per pool slot for its whole life, and the machine's range (5,000;
# sandbox/isolation/ids.py) fits only 8 processes of the default 128 (272 pool slots, two
# templates), too few for the servers of two test workers at once.
SERVER_SANDBOX_SLOTS = "16"


def clean_environment(**variables: str) -> dict[str, str]:
    """This process's environment without any SCRIPTBOTS_* setting but the suite's cheap
    password hashes and small sandbox pools, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRIPTBOTS_")}
    env[HASH_PROFILE_ENV] = "test"
    env["SCRIPTBOTS_SANDBOX_SLOTS"] = SERVER_SANDBOX_SLOTS
    env.update(variables)
    return env


def scriptbots(
    *args: str, cwd: Path, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPTBOTS, *args],
        cwd=cwd,
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A ``scriptbots serve`` process; its output goes to ``serve-PORT.log`` in ``cwd``."""

    def __init__(self, *args: str, cwd: Path, env: dict[str, str], port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = cwd / f"serve-{port}.log"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [SCRIPTBOTS, "serve", "--port", str(port), *args],
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: workers stop with it
            )

    def wait_until_up(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"serve exited with {self.process.returncode}:\n{self.log_path.read_text()}"
                )
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return self.base
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"serve did not answer in time:\n{self.log_path.read_text()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the server and everything it started, as a crash would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextmanager
def serving(*args: str, cwd: Path, env: dict[str, str], port: int) -> Iterator[str]:
    """``scriptbots serve --port PORT ARGS...`` until the block ends; yields its base URL."""
    server = Server(*args, cwd=cwd, env=env, port=port)
    try:
        yield server.wait_until_up()
    finally:
        server.stop()
