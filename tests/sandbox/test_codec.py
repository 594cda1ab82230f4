"""The dataclass codec both sandbox protocols share: what each kind of annotation accepts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from sandbox.codec import ProtocolError, from_json, to_json

NO_BLOBS = memoryview(b"")


@dataclass(frozen=True)
class Inner:
    flag: bool


@dataclass(frozen=True)
class Sample:
    count: int
    ratio: float = 0.0
    note: str | None = None
    pair: tuple[bool, str] | None = None
    names: dict[str, str] = field(default_factory=dict)
    loose: dict[str, Any] = field(default_factory=dict)
    inner: list[Inner] = field(default_factory=list)
    data: bytes = b""


@dataclass(frozen=True)
class Empty:
    pass


def test_values_round_trip_with_bytes_beside_the_json() -> None:
    value = Sample(3, 0.5, "n", (True, "ok"), {"K": "v"}, {"x": [1]}, [Inner(True)], b"\x00\xff")
    blobs: list[bytes] = []
    data = to_json(value, blobs)
    assert data["data"] == [0, 2] and blobs == [b"\x00\xff"]
    assert from_json(Sample, data, memoryview(b"".join(blobs))) == value


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"count": True}, "field 'count' must be int"),
        ({"count": 1, "ratio": "1"}, "field 'ratio' must be a number"),
        ({"count": 1, "note": 5}, "field 'note' has the wrong type"),
        ({"count": 1, "pair": [True]}, "field 'pair' has the wrong type"),
        ({"count": 1, "names": {"K": 1}}, "field 'names' must be str"),
        ({"count": 1, "inner": [{"flag": 1}]}, "field 'flag' must be bool"),
        ({"count": 1, "data": [0, 1]}, "within the frame"),
        ({"count": 1, "extra": 1}, "Sample has no field 'extra'"),
        ({}, "missing 1 required positional argument"),
    ],
)
def test_each_field_is_checked_against_its_annotation(data: dict[str, object], error: str) -> None:
    with pytest.raises(ProtocolError, match=error):
        from_json(Sample, data, NO_BLOBS)


def test_a_class_without_fields_decodes_every_time() -> None:
    assert from_json(Empty, {}, NO_BLOBS) == Empty()
    assert from_json(Empty, {}, NO_BLOBS) == Empty()
    with pytest.raises(ProtocolError, match="Empty has no field 'x'"):
        from_json(Empty, {"x": 1}, NO_BLOBS)
