"""The network, with the restricted layer off: no socket can even be made.

Stopped by: seccomp (socket, socketpair but of AF_UNIX, connect, bind refused with EPERM).
Behind it, the network namespace has no interface up, and Landlock refuses TCP bind/connect."""

from __future__ import annotations

import pytest

from sandbox import SandboxPool
from tests.escapes_os.conftest import Planted
from tests.escapes_os.harness import attempt

pytestmark = pytest.mark.asyncio(loop_scope="module")

CONNECT = "import socket\n_result = socket.create_connection(('127.0.0.1', {port}), timeout=2)"
UDP = (
    "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.sendto(b'x', ('8.8.8.8', 53))"
)
UNIX_ABSTRACT = "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('\\0scriptbots')"
SOCKETPAIR = "import socket\n_result = socket.socketpair(socket.AF_INET)"
RAW_SYSCALL = (
    "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "if libc.syscall(41, 2, 1, 0) < 0:\n    raise OSError(ctypes.get_errno(), 'socket')"
)


@pytest.mark.parametrize(
    "attack",
    [CONNECT, CONNECT.replace("{port}", "5432"), UDP, UNIX_ABSTRACT, SOCKETPAIR, RAW_SYSCALL],
    ids=[
        "loopback-listener",
        "postgres-5432",
        "udp-dns",
        "abstract-unix",
        "socketpair",
        "raw-syscall",
    ],
)
async def test_no_socket_can_be_made__seccomp(
    open_pool: SandboxPool, planted: Planted, attack: str
) -> None:
    body = attack.replace("{port}", str(planted.listener_port))
    assert await attempt(open_pool, body) == ("BLOCKED", "PermissionError", "EPERM")


async def test_a_unix_socketpair_reaches_only_itself__seccomp(open_pool: SandboxPool) -> None:
    # asyncio's event loop needs one (its wake-up pipe); its ends connect nowhere else.
    body = (
        "import socket\na, b = socket.socketpair()\na.send(b'ping')\n"
        "assert b.recv(4) == b'ping'\na.connect('\\0elsewhere')"
    )
    assert await attempt(open_pool, body) == ("BLOCKED", "PermissionError", "EPERM")


async def test_the_channel_socket_cannot_be_reconnected__seccomp(open_pool: SandboxPool) -> None:
    body = "import os, socket\ns = socket.socket(fileno=os.dup(3))\ns.connect('\\0elsewhere')"
    assert await attempt(open_pool, body) == ("BLOCKED", "PermissionError", "EPERM")
