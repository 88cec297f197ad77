"""persisted documents: automatic persisted queries and trusted documents

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "persisted_documents",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("created_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persisted_documents")),
    )
    with op.batch_alter_table("persisted_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_persisted_documents_sha256"), ["sha256"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_persisted_documents_trusted_used_at"), ["trusted", "used_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("persisted_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_persisted_documents_trusted_used_at"))
        batch_op.drop_index(batch_op.f("ix_persisted_documents_sha256"))
    op.drop_table("persisted_documents")
