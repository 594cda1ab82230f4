"""files kept for runs, nested runs linked to their caller, the quota's index on runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


@contextmanager
def _keeping_run_children() -> Iterator[None]:
    """SQLite alters `runs` by copying it and dropping the old table; with foreign keys on,
    that drop deletes every run's events and unlinks its reports (their ON DELETE rules).
    Keep them aside meanwhile and put them back."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMP TABLE keep_run_events AS SELECT * FROM run_events")
        op.execute(
            "CREATE TEMP TABLE keep_report_runs AS "
            "SELECT id, run_id FROM reports WHERE run_id IS NOT NULL"
        )
    yield
    if sqlite:
        op.execute("INSERT INTO run_events SELECT * FROM keep_run_events")
        op.execute(
            "UPDATE reports SET run_id = "
            "(SELECT k.run_id FROM keep_report_runs AS k WHERE k.id = reports.id) "
            "WHERE id IN (SELECT id FROM keep_report_runs)"
        )
        op.execute("DROP TABLE keep_run_events")
        op.execute("DROP TABLE keep_report_runs")


def upgrade() -> None:
    with _keeping_run_children(), op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("parent_run_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_runs_parent_run_id_runs"),
            "runs",
            ["parent_run_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(op.f("ix_runs_parent_run_id"), ["parent_run_id"])
        batch.create_index(op.f("ix_runs_status_started_at"), ["status", "started_at"])

    op.create_table(
        "files",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_files_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
    )
    op.create_index(op.f("ix_files_run_id"), "files", ["run_id"])


def downgrade() -> None:
    op.drop_table("files")
    with _keeping_run_children(), op.batch_alter_table("runs") as batch:
        batch.drop_index(op.f("ix_runs_status_started_at"))
        batch.drop_index(op.f("ix_runs_parent_run_id"))
        batch.drop_constraint(op.f("fk_runs_parent_run_id_runs"), type_="foreignkey")
        batch.drop_column("parent_run_id")
