"""Network ACLs associated with single ports (`network_acl_ports`, one ACL per port).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 14:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "network_acl_ports",
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("network_acl_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("port_id", name=op.f("pk_network_acl_ports")),
    )
    with op.batch_alter_table("network_acl_ports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_network_acl_ports_network_acl_id"), ["network_acl_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("network_acl_ports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_acl_ports_network_acl_id"))
    op.drop_table("network_acl_ports")
