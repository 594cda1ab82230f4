"""The control protocol between the host and the template process (``sandbox/zygote.py``).

Every message is a frozen dataclass below. SOCK_SEQPACKET, one datagram per message: a
UTF-8 JSON object ``{"t": "<ClassName>", <field>: <value>, ...}``, each field checked
against its annotation on receipt (``codec.py``, as for the child's frames), with the
message's descriptor fields (``_DESCRIPTOR``) travelling alongside by SCM_RIGHTS, in the
order they are declared, never in the JSON. A message that is not one of these, or
carries the wrong number of descriptors, is refused with ProtocolError::

    host -> template  Spawn(id, slot, limits, channel_fd)   the child's channel end
    host -> template  Shutdown
    template -> host  Ready(report)                         once, after the probe child
    template -> host  Spawned(id, pid, pidfd)               a pidfd of the child
    template -> host  SpawnFailed(id, error)
    template -> host  Exited(id, code, signal, cpu_s, oom)
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import typing
from dataclasses import dataclass, field
from typing import TypeVar

from sandbox.codec import ProtocolError, from_json, to_json
from sandbox.protocol import Limits

MAX_CONTROL_BYTES = 64 * 1024
_MAX_FDS = 4
_DESCRIPTOR = {"descriptor": True}  # field metadata: an open file descriptor, sent alongside
_NO_BLOBS = memoryview(b"")
T = TypeVar("T")

#: What the probe child found: (working, how or why not) by protection name.
Report = dict[str, tuple[bool, str]]


# -- host -> template -------------------------------------------------------------------


@dataclass(frozen=True)
class Spawn:
    """Fork a child for ``slot`` under ``limits``, speaking on ``channel_fd``. ``id`` is
    the host's name for the child, repeated in every answer about it."""

    id: int
    slot: int
    limits: Limits
    channel_fd: int = field(metadata=_DESCRIPTOR)


@dataclass(frozen=True)
class Shutdown:
    """Kill the children, remove the cgroups, exit."""


# -- template -> host -------------------------------------------------------------------


@dataclass(frozen=True)
class Ready:
    """The template is warm; ``report`` is what its probe child could apply."""

    report: Report


@dataclass(frozen=True)
class Spawned:
    """The child is forked: its pid, and a pidfd (a kill can never hit a recycled pid)."""

    id: int
    pid: int
    pidfd: int = field(metadata=_DESCRIPTOR)


@dataclass(frozen=True)
class SpawnFailed:
    """No child: a slot that is not free, or a cgroup write that failed (``error`` says)."""

    id: int
    error: str


@dataclass(frozen=True)
class Exited:
    """The child was reaped: its exit code or signal, CPU time, and whether the kernel's
    OOM killer ended it (its cgroup's count went up)."""

    id: int
    code: int | None
    signal: int | None
    cpu_s: float
    oom: bool


HostRequest = Spawn | Shutdown
ChildReport = Spawned | SpawnFailed | Exited  # what the pool hears about one child
TemplateReport = Ready | ChildReport
ControlMessage = HostRequest | TemplateReport

_FROM_HOST: dict[str, type[HostRequest]] = {
    cls.__name__: cls for cls in typing.get_args(HostRequest)
}
_FROM_TEMPLATE: dict[str, type[TemplateReport]] = {
    cls.__name__: cls for cls in typing.get_args(TemplateReport)
}


# -- codec ------------------------------------------------------------------------------


def encode(message: ControlMessage) -> tuple[bytes, list[int]]:
    """The datagram and the descriptors to send with it."""
    descriptors = _descriptor_fields(type(message))
    body = {"t": type(message).__name__, **to_json(message, [])}
    for name in descriptors:
        del body[name]
    data = json.dumps(body, separators=(",", ":")).encode()
    if len(data) > MAX_CONTROL_BYTES:
        raise ProtocolError(f"control message of {len(data)} bytes exceeds the limit")
    return data, [getattr(message, name) for name in descriptors]


def send(sock: socket.socket, message: ControlMessage) -> None:
    """Send on a blocking socket (the template's end)."""
    data, fds = encode(message)
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def receive_request(sock: socket.socket) -> HostRequest | None:
    """What the host asked the template; None when the host closed its end."""
    return _receive(sock, _FROM_HOST)


def receive_report(sock: socket.socket) -> TemplateReport | None:
    """What the template told the host; None when the template closed its end."""
    return _receive(sock, _FROM_TEMPLATE)


def _receive(sock: socket.socket, table: dict[str, type[T]]) -> T | None:
    """The next message of one of ``table``'s types. ProtocolError, its descriptors
    closed, if the datagram is not one (BlockingIOError on a non-blocking socket)."""
    data, fds, flags, _addr = socket.recv_fds(sock, MAX_CONTROL_BYTES, _MAX_FDS)
    try:
        if not data:
            for fd in fds:
                os.close(fd)
            return None
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            raise ProtocolError("control message over the size or descriptor limit")
        return _decode(data, fds, table)
    except ProtocolError:
        for fd in fds:
            os.close(fd)
        raise


def _decode(data: bytes, fds: list[int], table: dict[str, type[T]]) -> T:
    try:
        body = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("control message is not JSON within limits") from exc
    if not isinstance(body, dict) or not isinstance(body.get("t"), str):
        raise ProtocolError("control message is not a tagged object")
    cls = table.get(body.pop("t"))
    if cls is None:
        raise ProtocolError("unknown control message type")
    descriptors = _descriptor_fields(cls)
    if len(fds) != len(descriptors):
        raise ProtocolError(
            f"{cls.__name__} carries {len(descriptors)} descriptors, not {len(fds)}"
        )
    if any(name in body for name in descriptors):
        raise ProtocolError(f"{cls.__name__}'s descriptors travel beside the JSON, not in it")
    body.update(zip(descriptors, fds, strict=True))
    return from_json(cls, body, _NO_BLOBS)


_DESCRIPTORS: dict[type, tuple[str, ...]] = {}


def _descriptor_fields(cls: type) -> tuple[str, ...]:
    if cls not in _DESCRIPTORS:
        fields = dataclasses.fields(cls)
        _DESCRIPTORS[cls] = tuple(f.name for f in fields if f.metadata.get("descriptor"))
    return _DESCRIPTORS[cls]
