"""Dataclass messages to JSON and back, every field checked against its annotation.

Shared by the two protocols of the sandbox: host <-> child frames (``protocol.py``) and
host <-> template datagrams (``control.py``). Decoding builds only the class it is given,
from known fields of the types their annotations name (never pickle or eval), so the
untrusted side can send nothing else. ``bytes`` fields travel beside the JSON, as
``[offset, length]`` into the blobs that follow it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, TypeVar

T = TypeVar("T")


class ProtocolError(ValueError):
    """A message that is not one of the protocol's, or not well formed."""


def to_json(value: Any, blobs: list[bytes]) -> Any:
    """``value`` as JSON-ready data; its ``bytes`` appended to ``blobs``, referred to by
    ``[offset, length]``."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    if isinstance(value, bytes):
        offset = sum(map(len, blobs))
        blobs.append(value)
        return [offset, len(value)]
    if isinstance(value, list | tuple):
        return [to_json(item, blobs) for item in value]
    names = _FIELD_NAMES.get(kind)
    if names is None:
        if isinstance(value, type) or not dataclasses.is_dataclass(value):
            return value  # json.dumps says whether it can
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(value))
    return {name: to_json(getattr(value, name), blobs) for name in names}


_AS_IS = frozenset({str, int, float, bool, type(None), dict})  # dicts are JSON already
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def from_json(cls: type[T], data: Any, blobs: memoryview) -> T:
    """An instance of the dataclass ``cls`` from decoded JSON; ProtocolError if ``data``
    is not one."""
    if not isinstance(data, dict):
        raise ProtocolError(f"{cls.__name__} must be an object")
    decoders = _DECODERS.get(cls)
    if decoders is None:  # (a class without fields has an empty dict of them)
        decoders = _class_decoders(cls)
    if not data.keys() <= decoders.keys():
        raise ProtocolError(
            f"{cls.__name__} has no field {sorted(data.keys() - decoders.keys())[0]!r}"
        )
    values = {name: decoders[name](value, blobs) for name, value in data.items()}
    try:
        return cls(**values)
    except TypeError as exc:  # a required field is missing
        raise ProtocolError(f"{cls.__name__}: {exc}") from None


#: Checks one field's JSON value against its annotation and returns the field's value.
_Decoder = Callable[[Any, memoryview], Any]
_DECODERS: dict[type, dict[str, _Decoder]] = {}


def _class_decoders(cls: type) -> dict[str, _Decoder]:
    """A decoder per field of ``cls``, built once from its annotations (our own trusted
    ones): resolving them and walking them per message would be slow on the run's path."""
    hints = typing.get_type_hints(cls)
    decoders = {f.name: _decoder(hints[f.name], f.name) for f in dataclasses.fields(cls)}
    _DECODERS[cls] = decoders
    return decoders


def _decoder(hint: Any, name: str) -> _Decoder:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return _union_decoder(typing.get_args(hint), name)
    if origin is Literal:
        allowed = typing.get_args(hint)

        def literal(value: Any, blobs: memoryview) -> Any:
            if value in allowed:
                return value
            raise ProtocolError(f"field {name!r} has an unknown value")

        return literal
    if origin is list:
        (item_hint,) = typing.get_args(hint)
        item = _decoder(item_hint, name)

        def list_of(value: Any, blobs: memoryview) -> Any:
            if not isinstance(value, list):
                raise ProtocolError(f"field {name!r} must be a list")
            return [item(entry, blobs) for entry in value]

        return list_of
    if origin is tuple:  # fixed length: tuple[bool, str]
        items = [_decoder(item_hint, name) for item_hint in typing.get_args(hint)]

        def tuple_of(value: Any, blobs: memoryview) -> Any:
            if not isinstance(value, list) or len(value) != len(items):
                raise ProtocolError(f"field {name!r} must be a list of {len(items)}")
            return tuple(item(entry, blobs) for item, entry in zip(items, value, strict=True))

        return tuple_of
    if origin is dict:
        value_hint = typing.get_args(hint)[1]
        entry = None if value_hint is Any else _decoder(value_hint, name)

        def dict_of(value: Any, blobs: memoryview) -> Any:
            if not isinstance(value, dict):
                raise ProtocolError(f"field {name!r} must be an object")
            if entry is None:  # JSON objects as they are: their keys are strings already
                return value
            return {key: entry(item, blobs) for key, item in value.items()}

        return dict_of
    if hint is type(None):

        def none(value: Any, blobs: memoryview) -> Any:
            if value is None:
                return None
            raise ProtocolError(f"field {name!r} must be null")

        return none
    if hint is bytes:

        def blob(value: Any, blobs: memoryview) -> Any:
            if (
                not isinstance(value, list)
                or len(value) != 2
                or not all(type(n) is int and n >= 0 for n in value)
                or value[0] + value[1] > len(blobs)
            ):
                raise ProtocolError(f"field {name!r} must be [offset, length] within the frame")
            return bytes(blobs[value[0] : value[0] + value[1]])

        return blob
    if hint is float:

        def number(value: Any, blobs: memoryview) -> Any:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            raise ProtocolError(f"field {name!r} must be a number")

        return number
    if hint is int or hint is str or hint is bool:

        def exactly(value: Any, blobs: memoryview) -> Any:
            if type(value) is hint:
                return value
            raise ProtocolError(f"field {name!r} must be {hint.__name__}")

        return exactly
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        cls = hint
        return lambda value, blobs: from_json(cls, value, blobs)

    def unsupported(value: Any, blobs: memoryview) -> Any:  # pragma: no cover
        raise ProtocolError(f"field {name!r} has an unsupported type")

    return unsupported


def _union_decoder(hints: tuple[Any, ...], name: str) -> _Decoder:
    """The first option that accepts the value; ``X | None`` tests None first, without
    raising (most optional fields are unset)."""
    if len(hints) == 2 and hints[1] is type(None):
        only = _decoder(hints[0], name)

        def optional(value: Any, blobs: memoryview) -> Any:
            if value is None:
                return None
            try:
                return only(value, blobs)
            except ProtocolError:
                raise ProtocolError(f"field {name!r} has the wrong type") from None

        return optional

    options = [_decoder(hint, name) for hint in hints]

    def union(value: Any, blobs: memoryview) -> Any:
        for option in options:
            try:
                return option(value, blobs)
            except ProtocolError:
                continue
        raise ProtocolError(f"field {name!r} has the wrong type")

    return union
