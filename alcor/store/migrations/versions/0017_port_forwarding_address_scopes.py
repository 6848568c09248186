"""Port forwardings on floating IPs (`floating-ip-port-forwarding`), address scopes
(`address-scope`) and the subnet pools' `address_scope_id`.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "address_scopes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column("ip_version", sa.BigInteger(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address_scopes")),
    )
    with op.batch_alter_table("address_scopes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_address_scopes_project_id"), ["project_id"])
    op.create_table(
        "port_forwardings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column("floatingip_id", sa.String(length=36), nullable=False),
        sa.Column("external_port", sa.BigInteger(), nullable=True),
        sa.Column("external_port_range", sa.String(length=11), nullable=True),
        sa.Column("internal_port", sa.BigInteger(), nullable=True),
        sa.Column("internal_port_range", sa.String(length=11), nullable=True),
        sa.Column("internal_ip_address", sa.String(length=64), nullable=False),
        sa.Column("internal_port_id", sa.String(length=36), nullable=False),
        sa.Column("protocol", sa.String(length=3), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_port_forwardings")),
    )
    with op.batch_alter_table("port_forwardings", schema=None) as batch_op:
        for column in ("floatingip_id", "internal_port_id", "project_id"):
            batch_op.create_index(batch_op.f(f"ix_port_forwardings_{column}"), [column])
    with op.batch_alter_table("subnetpools", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address_scope_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_subnetpools_address_scope_id"), ["address_scope_id"])


def downgrade() -> None:
    with op.batch_alter_table("subnetpools", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subnetpools_address_scope_id"))
        batch_op.drop_column("address_scope_id")
    op.drop_table("port_forwardings")
    op.drop_table("address_scopes")
