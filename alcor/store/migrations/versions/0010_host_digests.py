"""Host digests: what each agent last reported it holds, per kind (the state audit).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 06:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("hosts", sa.Column("digests", sa.JSON, nullable=True))
    op.add_column("hosts", sa.Column("digested_at", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("digested_at")
        batch.drop_column("digests")
