"""An unrestricted pool (plain Python, test-only) with secrets planted around it, to show that
the operating-system layer alone contains a script that got past the restricted layer."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from sandbox import SandboxPool
from tests.sandbox.process.harness import children_of, process_exists, template_pid, wait_until

SECRET = "s3cr3t-" + "k" * 24
SECRET_ENV = "SCRIPTBOTS_SECRET_KEY"


@dataclass(frozen=True)
class Planted:
    """Where the host keeps what a script must never read."""

    secret_key: Path  # stands for var/secret.key
    database: Path  # stands for var/scriptbots.db
    listener_port: int  # a loopback service of the host
    host_pid: int


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Planted]:
    var = tmp_path_factory.mktemp("var")
    (var / "secret.key").write_text(SECRET)
    (var / "scriptbots.db").write_text(f"creators table with {SECRET}")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        port = listener.getsockname()[1]
        yield Planted(var / "secret.key", var / "scriptbots.db", port, os.getpid())
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody from the sandbox ever reached it


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def open_pool(planted: Planted) -> AsyncIterator[SandboxPool]:
    os.environ[SECRET_ENV] = SECRET  # the host's environment holds a secret...
    try:
        pool = SandboxPool(slots=16, spares=1, unrestricted_for_tests=True)
        await pool.start()
    finally:
        del os.environ[SECRET_ENV]  # ...which the template was started without
    parent = template_pid(pool)
    yield pool
    children = children_of(parent)
    await pool.close()
    assert not process_exists(parent)
    await wait_until(lambda: not any(process_exists(pid) for pid in children))
