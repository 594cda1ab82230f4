"""No sockets for the run, said in words: name lookups and connections fail naming why.

The kernel already refuses every socket (seccomp) and the network namespace has no
interface; without this, a library that opens a socket itself would fail with a bare
"Operation not permitted" or "Temporary failure in name resolution". The HTTP clients
scripts use go through the host instead (``clients.py``), for half-shield scripts.
"""

from __future__ import annotations

import errno
import socket
from typing import Any, NoReturn

MESSAGE = (
    "the network is not available to this script: it has no sockets; HTTP requests of "
    "requests, httpx, urllib and aiohttp go through the host when the script's header says "
    "`# poe: privacy_shield=half`; call bots with poe.call, read attachments with "
    "attachment.get_contents()"
)


def _refuse(*args: Any, **kwargs: Any) -> NoReturn:
    raise PermissionError(errno.EPERM, MESSAGE)


def refuse_network() -> None:
    """Replace the socket module's ways out (in the child, after its channel is open)."""
    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "create_connection"):
        setattr(socket, name, _refuse)
