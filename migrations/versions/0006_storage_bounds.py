"""storage bounds: files know their creator (the per-creator cap), the retention's indexes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # `files` is a leaf table: SQLite's batch copy of it loses no other table's rows.
    with op.batch_alter_table("files") as batch:
        batch.add_column(
            sa.Column(
                "creator_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch.create_foreign_key(
            op.f("fk_files_creator_id_creators"),
            "creators",
            ["creator_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index(op.f("ix_files_creator_id"), ["creator_id"])
        batch.create_index(op.f("ix_files_created_at"), ["created_at"])
    # Existing files belong to the creator of their run's script.
    op.execute(
        "UPDATE files SET creator_id = (SELECT scripts.creator_id FROM runs "
        "JOIN scripts ON scripts.id = runs.script_id WHERE runs.id = files.run_id)"
    )
    op.create_index(op.f("ix_runs_started_at"), "runs", ["started_at"])
    op.create_index(op.f("ix_reports_received_at"), "reports", ["received_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_reports_received_at"), "reports")
    op.drop_index(op.f("ix_runs_started_at"), "runs")
    with op.batch_alter_table("files") as batch:
        batch.drop_index(op.f("ix_files_created_at"))
        batch.drop_index(op.f("ix_files_creator_id"))
        batch.drop_constraint(op.f("fk_files_creator_id_creators"), type_="foreignkey")
        batch.drop_column("creator_id")
