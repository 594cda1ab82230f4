"""Capabilities: the child keeps none, and none can ever come back (issue 11).

A uid change from root empties the effective and permitted sets but leaves the bounding set
full and the inheritable set as it was; a new user namespace hands its creator every
capability. So, while the child still holds ``CAP_SETPCAP``: every capability is dropped
from the bounding set, the ambient set is cleared, and the inheritable set emptied. The
effective and permitted sets go with the uid drop (as root) or here (in a user namespace).
"""

from __future__ import annotations

import ctypes
import errno

from sandbox.isolation._libc import check, libc, prctl

_PR_CAPBSET_READ = 23
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_VERSION_3 = 0x20080522  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set
_MAX_CAPABILITIES = 64


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def clear(*, keep_effective: bool) -> str:
    """Empty the bounding, ambient and inheritable sets; also the effective and permitted
    ones unless ``keep_effective`` (root still needs them to change its uid)."""
    dropped = 0
    for capability in range(_MAX_CAPABILITIES):
        if libc.prctl(_PR_CAPBSET_READ, capability, 0, 0, 0) < 0:
            break  # EINVAL: past the kernel's last capability
        prctl(_PR_CAPBSET_DROP, capability)
        dropped += 1
    prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    header = _Header(_VERSION_3, 0)
    data = (_Data * 2)()
    check(libc.capget(ctypes.byref(header), ctypes.byref(data)), "capget")
    for word in data:
        word.inheritable = 0
        if not keep_effective:
            word.effective = word.permitted = 0
    check(libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")
    if bounding_set():
        raise OSError(errno.EPERM, "the bounding set kept a capability")
    return f"none: bounding set ({dropped} dropped), ambient and inheritable sets empty"


def bounding_set() -> list[int]:
    """The capabilities still in this process's bounding set."""
    kept = []
    for capability in range(_MAX_CAPABILITIES):
        held = libc.prctl(_PR_CAPBSET_READ, capability, 0, 0, 0)
        if held < 0:
            break
        if held:
            kept.append(capability)
    return kept


def held() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) as 64-bit masks."""
    header = _Header(_VERSION_3, 0)
    data = (_Data * 2)()
    check(libc.capget(ctypes.byref(header), ctypes.byref(data)), "capget")
    low, high = data
    return (
        low.effective | high.effective << 32,
        low.permitted | high.permitted << 32,
        low.inheritable | high.inheritable << 32,
    )
