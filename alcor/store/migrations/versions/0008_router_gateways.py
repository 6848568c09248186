"""Routers' SNAT placement: which host does each router's gateway.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 03:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "router_gateways",
        sa.Column("router_id", sa.String(length=36), nullable=False),
        sa.Column("host_id", sa.String(length=255), nullable=False),
        sa.Column("placed_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("router_id"),
    )


def downgrade() -> None:
    op.drop_table("router_gateways")
