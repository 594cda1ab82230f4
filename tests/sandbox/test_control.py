"""The template's control messages: typed both ways, descriptors alongside, bad ones refused."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator

import pytest

from sandbox import control
from sandbox.codec import ProtocolError
from sandbox.protocol import Limits


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    host, template = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with host, template:
        yield host, template


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def test_spawn_reaches_the_template_with_its_channel(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    host, template = pair
    ours, theirs = socket.socketpair()
    with ours, theirs:
        control.send(host, control.Spawn(7, 3, Limits(timeout_s=2, cpu_s=5), theirs.fileno()))
        request = control.receive_request(template)
        assert isinstance(request, control.Spawn)
        assert (request.id, request.slot, request.limits) == (7, 3, Limits(timeout_s=2, cpu_s=5))
        with socket.socket(fileno=request.channel_fd) as received:
            received.send(b"x")  # the descriptor is the channel's far end, not its number
            assert ours.recv(1) == b"x"


def test_reports_round_trip(pair: tuple[socket.socket, socket.socket]) -> None:
    host, template = pair
    report = {"seccomp": (True, "filter"), "landlock": (False, "no Landlock")}
    for message in (
        control.Ready(report),
        control.SpawnFailed(4, "slot 9 is not free"),
        control.Exited(4, None, 9, 0.25, True),
        control.Exited(5, 0, None, 1.0, False),
    ):
        control.send(template, message)
        assert control.receive_report(host) == message


def test_spawned_carries_a_pidfd(pair: tuple[socket.socket, socket.socket]) -> None:
    host, template = pair
    pidfd = os.pidfd_open(os.getpid())
    try:
        control.send(template, control.Spawned(2, os.getpid(), pidfd))
    finally:
        os.close(pidfd)
    message = control.receive_report(host)
    assert isinstance(message, control.Spawned)
    assert message.pid == os.getpid()
    os.close(message.pidfd)


def test_closed_end_reads_as_none(pair: tuple[socket.socket, socket.socket]) -> None:
    host, template = pair
    template.close()
    assert control.receive_report(host) is None


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not json", "not JSON"),
        (b"[1]", "not a tagged object"),
        (b'{"t":"Spawn","id":1,"slot":0,"limits":{}}', "unknown control message type"),
        (b'{"t":"Exited","id":1,"code":null,"signal":null,"cpu_s":"0","oom":false}', "cpu_s"),
        (b'{"t":"Exited","id":1}', "missing"),
        (b'{"t":"Ready","report":{"seccomp":[true]}}', "report"),
        (b'{"t":"Spawned","id":1,"pid":2}', "carries 1 descriptors, not 0"),
    ],
)
def test_malformed_reports_are_refused(
    pair: tuple[socket.socket, socket.socket], body: bytes, error: str
) -> None:
    host, template = pair
    template.send(body)
    with pytest.raises(ProtocolError, match=error):
        control.receive_report(host)


def test_refused_datagrams_close_their_descriptors(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    host, template = pair
    before = open_fds()
    extra = os.open(os.devnull, os.O_RDONLY)
    body = json.dumps({"t": "Spawned", "id": 1, "pid": 2, "pidfd": extra}).encode()
    socket.send_fds(template, [body], [extra])  # a number in the JSON: forged
    os.close(extra)
    with pytest.raises(ProtocolError, match="beside the JSON"):
        control.receive_report(host)
    socket.send_fds(template, [b'{"t":"Shutdown"}'], [0])  # Shutdown carries none
    with pytest.raises(ProtocolError, match="carries 0 descriptors, not 1"):
        control.receive_request(host)
    assert open_fds() == before


def test_oversized_datagram_is_refused(pair: tuple[socket.socket, socket.socket]) -> None:
    host, template = pair
    template.send(b" " * (control.MAX_CONTROL_BYTES + 1))
    with pytest.raises(ProtocolError, match="limit"):
        control.receive_report(host)
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        control.encode(control.SpawnFailed(1, "x" * control.MAX_CONTROL_BYTES))
