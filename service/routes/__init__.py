"""HTTP: the only package that knows requests and responses."""

from __future__ import annotations
