"""Port provisioning: the revision a binding started at, apart from the acked revision.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 21:41:01.037063
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("port_provisioning", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("bound_revision", sa.Integer(), server_default="0", nullable=False)
        )
    # Until now `revision` served as the threshold too: start from it.
    op.execute("UPDATE port_provisioning SET bound_revision = revision")


def downgrade() -> None:
    with op.batch_alter_table("port_provisioning", schema=None) as batch_op:
        batch_op.drop_column("bound_revision")
