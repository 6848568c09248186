"""Inactive port bindings (`binding-extended`): a live migration's destination host until Nova
activates it; the active binding stays in the port's own columns.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "port_bindings",
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("vnic_type", sa.String(length=64), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("vif_type", sa.String(length=64), nullable=False),
        sa.Column("vif_details", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("port_id", "host", name=op.f("pk_port_bindings")),
    )
    op.create_index(op.f("ix_port_bindings_host"), "port_bindings", ["host"])


def downgrade() -> None:
    op.drop_index(op.f("ix_port_bindings_host"), table_name="port_bindings")
    op.drop_table("port_bindings")
