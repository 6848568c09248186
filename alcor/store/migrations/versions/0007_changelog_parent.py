"""Change-log rows name what the changed resource belongs to (a rule's group or ACL).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 01:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("changelog") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("changelog") as batch:
        batch.drop_column("parent_id")
