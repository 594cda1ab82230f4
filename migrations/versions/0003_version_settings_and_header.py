"""settings a version's poe.update_settings set, its # poe: header, computed bot calls, and
the refetch_settings flag of scripts (issue 8)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs with constant defaults: SQLite needs no table copy, and every
    # stored version and script keeps its row (existing versions set no settings).
    op.add_column(
        "scripts",
        sa.Column("refetch_settings", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "script_versions",
        sa.Column("dynamic_bot_calls", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("script_versions", sa.Column("settings", sa.JSON(), nullable=True))
    op.add_column(
        "script_versions",
        sa.Column("header", sa.JSON(), nullable=False, server_default="{}"),
    )
    op.add_column(
        "script_versions", sa.Column("privacy_shield", sa.String(length=8), nullable=True)
    )


def downgrade() -> None:
    # ALTER TABLE DROP COLUMN (SQLite 3.35+), not a batch copy: dropping a copied `scripts`
    # with foreign keys on would cascade to every version, run and report.
    for column in ("privacy_shield", "header", "settings", "dynamic_bot_calls"):
        op.drop_column("script_versions", column)
    op.drop_column("scripts", "refetch_settings")
