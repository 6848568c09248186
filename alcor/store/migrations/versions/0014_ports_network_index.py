"""Ports lose their index on network_id alone: the unique (network_id, mac_address) index
serves lookups by network, and PostgreSQL chose the narrower one for the MAC check while the
table was not yet analysed (a scan of every port of the network per create).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 09:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_ports_network_id", table_name="ports")


def downgrade() -> None:
    op.create_index("ix_ports_network_id", "ports", ["network_id"])
