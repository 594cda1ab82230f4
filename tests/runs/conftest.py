"""Fixtures of the run tests: the loopback upstream (tests/upstream.py)."""

from __future__ import annotations

from tests.upstream import upstream

__all__ = ["upstream"]
