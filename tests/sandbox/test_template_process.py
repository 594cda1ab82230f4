"""The host's end of the control socket: reports reach the pool typed; a template that
breaks the protocol is refused loudly and treated as dead (the pool then replaces it)."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from sandbox import SandboxUnavailable, control
from sandbox.template import TemplateProcess


class Owner:
    """What a pool hears, recorded."""

    def __init__(self) -> None:
        self.messages: list[control.ChildReport] = []
        self.died = asyncio.get_running_loop().create_future()

    def on_template_message(self, message: control.ChildReport) -> None:
        self.messages.append(message)

    def on_template_died(self, template: TemplateProcess) -> None:
        self.died.set_result(template)


@pytest_asyncio.fixture
async def ends() -> AsyncIterator[tuple[Owner, TemplateProcess, socket.socket]]:
    """A TemplateProcess on a stand-in process, and the template's end of its socket."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    process = subprocess.Popen(["sleep", "60"], stderr=subprocess.PIPE)
    owner = Owner()
    template = TemplateProcess(owner, process, ours)
    with theirs:
        yield owner, template, theirs
    template.kill()


async def test_reports_reach_the_owner_and_ready_resolves(
    ends: tuple[Owner, TemplateProcess, socket.socket],
) -> None:
    owner, template, theirs = ends
    control.send(theirs, control.Ready({"seccomp": (True, "filter")}))
    control.send(theirs, control.SpawnFailed(3, "slot 3 is not free"))
    assert await asyncio.wait_for(template.ready, 5) == {"seccomp": (True, "filter")}
    await asyncio.sleep(0.05)
    assert owner.messages == [control.SpawnFailed(3, "slot 3 is not free")]


async def test_a_malformed_report_is_logged_and_the_template_given_up(
    ends: tuple[Owner, TemplateProcess, socket.socket], caplog: pytest.LogCaptureFixture
) -> None:
    owner, template, theirs = ends
    with caplog.at_level(logging.WARNING, logger="sandbox.template"):
        theirs.send(b'{"t":"Exited","id":1}')
        assert await asyncio.wait_for(owner.died, 5) is template
    assert not template.alive
    assert owner.messages == []
    assert "broke the control protocol" in caplog.text
    with pytest.raises(SandboxUnavailable, match="exited"):
        template.ready.result()
