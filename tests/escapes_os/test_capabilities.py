"""Capabilities, with the restricted layer off: the child holds none and can gain none back.

Stopped by: the bounding, ambient and inheritable sets emptied while the child still held
CAP_SETPCAP, then the uid drop (effective and permitted sets) (issue 11)."""

from __future__ import annotations

import pytest

from sandbox import SandboxPool
from tests.escapes_os.harness import attempt, outcome_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

# What /proc/self/status would say as CapBnd, CapAmb, CapEff, CapPrm, CapInh (the child has
# no /proc: it asks the kernel directly).
READ_CAPABILITIES = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
bounding = ambient = 0
for cap in range(64):
    held = libc.prctl(23, cap, 0, 0, 0)  # PR_CAPBSET_READ
    if held < 0:
        break
    bounding |= held << cap
    ambient |= max(libc.prctl(47, 1, cap, 0, 0), 0) << cap  # PR_CAP_AMBIENT_IS_SET
class Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
class Data(ctypes.Structure):
    _fields_ = [("e", ctypes.c_uint32), ("p", ctypes.c_uint32), ("i", ctypes.c_uint32)]
data = (Data * 2)()
assert libc.capget(ctypes.byref(Header(0x20080522, 0)), ctypes.byref(data)) == 0
sets = [data[0].e | data[1].e << 32, data[0].p | data[1].p << 32, data[0].i | data[1].i << 32]
print("CapBnd=%x CapAmb=%x CapEff=%x CapPrm=%x CapInh=%x" % (bounding, ambient, *sets))
"""
RAISE_AMBIENT = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(47, 2, 21, 0, 0) != 0:  # PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN
    raise OSError(ctypes.get_errno(), "prctl")
"""
REGAIN_BY_CAPSET = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
class Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
class Data(ctypes.Structure):
    _fields_ = [("e", ctypes.c_uint32), ("p", ctypes.c_uint32), ("i", ctypes.c_uint32)]
data = (Data * 2)((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFF, 0xFF, 0xFF))
if libc.capset(ctypes.byref(Header(0x20080522, 0)), ctypes.byref(data)) != 0:
    raise OSError(ctypes.get_errno(), "capset")
"""


async def test_no_capability_in_any_set__capabilities(open_pool: SandboxPool) -> None:
    outcome = await outcome_of(open_pool, READ_CAPABILITIES)
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    assert outcome.text.strip() == "CapBnd=0 CapAmb=0 CapEff=0 CapPrm=0 CapInh=0"


async def test_an_ambient_capability_cannot_be_raised__capabilities(
    open_pool: SandboxPool,
) -> None:
    assert await attempt(open_pool, RAISE_AMBIENT) == ("BLOCKED", "PermissionError", "EPERM")


async def test_capabilities_cannot_be_set_back__seccomp(open_pool: SandboxPool) -> None:
    assert await attempt(open_pool, REGAIN_BY_CAPSET) == ("BLOCKED", "PermissionError", "EPERM")


async def test_the_status_reports_the_capabilities_layer(open_pool: SandboxPool) -> None:
    active = {protection.name: protection.detail for protection in open_pool.status().active}
    assert "bounding set" in active.get("capabilities", ""), open_pool.status().table()
