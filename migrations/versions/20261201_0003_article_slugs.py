"""article slug history

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "article_slugs",
        sa.Column("slug", sa.String(length=320), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_article_slugs_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_article_slugs")),
    )
    with op.batch_alter_table("article_slugs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_article_slugs_article_id"), ["article_id"], unique=False)
    # Existing articles: their current slugs are all the history there is.
    op.execute("INSERT INTO article_slugs (slug, article_id) SELECT slug, id FROM articles")


def downgrade() -> None:
    with op.batch_alter_table("article_slugs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_article_slugs_article_id"))
    op.drop_table("article_slugs")
