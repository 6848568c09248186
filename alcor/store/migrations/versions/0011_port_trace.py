"""Port trace: when each change's request arrived, when a port turned ACTIVE, when Nova heard.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROVISIONING = (
    ("requested_at", sa.Float()),
    ("active_at", sa.Float()),
    ("nova_notified_at", sa.Float()),
    ("nova_event", sa.String(length=64)),
)


def upgrade() -> None:
    op.add_column("changelog", sa.Column("requested_at", sa.Float(), nullable=True))
    for name, type_ in PROVISIONING:
        op.add_column("port_provisioning", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("port_provisioning") as batch:
        for name, _ in reversed(PROVISIONING):
            batch.drop_column(name)
    with op.batch_alter_table("changelog") as batch:
        batch.drop_column("requested_at")
