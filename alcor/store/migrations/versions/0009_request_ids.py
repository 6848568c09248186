"""Request ids: the API request of each change-log row and of each port's provisioning.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("changelog", sa.Column("request_id", sa.String(length=64), nullable=True))
    op.add_column("port_provisioning", sa.Column("request_id", sa.String(length=64), nullable=True))
    op.add_column(
        "port_provisioning",
        sa.Column("reported_request_id", sa.String(length=64), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("port_provisioning") as batch:
        batch.drop_column("reported_request_id")
        batch.drop_column("request_id")
    with op.batch_alter_table("changelog") as batch:
        batch.drop_column("request_id")
