"""Persistence: tables, the engine, and queries per aggregate, each scoped by creator.

Never imported by ``sandbox/``. Tables are made by Alembic revisions only (``migrations/``).
"""

from __future__ import annotations
