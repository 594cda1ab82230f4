"""file bytes in chunks: files.data moves to file_chunks (one chunk per existing file)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "file_chunks",
        sa.Column("file_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name=op.f("fk_file_chunks_file_id_files"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("file_id", "seq", name=op.f("pk_file_chunks")),
    )
    op.execute("INSERT INTO file_chunks (file_id, seq, data) SELECT id, 0, data FROM files")
    # Native DROP COLUMN (SQLite 3.35+): a batch copy of `files` would cascade to its chunks.
    op.drop_column("files", "data")


def downgrade() -> None:
    op.add_column("files", sa.Column("data", sa.LargeBinary(), nullable=True))
    connection = op.get_bind()
    files = connection.execute(sa.text("SELECT id FROM files")).scalars().all()
    for file_id in files:  # one file's chunks at a time, joined back
        chunks = connection.execute(
            sa.text("SELECT data FROM file_chunks WHERE file_id = :id ORDER BY seq"),
            {"id": file_id},
        ).scalars()
        connection.execute(
            sa.text("UPDATE files SET data = :data WHERE id = :id"),
            {"id": file_id, "data": b"".join(bytes(chunk) for chunk in chunks)},
        )
    op.drop_table("file_chunks")
    with op.batch_alter_table("files") as batch:  # a leaf table again: the copy is safe
        batch.alter_column("data", existing_type=sa.LargeBinary(), nullable=False)
