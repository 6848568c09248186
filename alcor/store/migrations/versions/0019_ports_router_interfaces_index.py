"""A partial index of the ports that are router interfaces, by network: rendering a network's
state (every port change that reaches a host) asks for its routers, which was a scan of every
port of the network through the (network_id, mac_address) index (100 ms at 100k ports).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 12:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INTERFACES = sa.text("device_owner = 'network:router_interface'")


def upgrade() -> None:
    op.create_index(
        "ix_ports_router_interfaces",
        "ports",
        ["network_id"],
        sqlite_where=_INTERFACES,
        postgresql_where=_INTERFACES,
    )


def downgrade() -> None:
    op.drop_index("ix_ports_router_interfaces", table_name="ports")
