"""The ports' host index also holds the network: whether a host has a port on a network (the
flood lists of on-demand networks) is one index probe, not a scan of the network's ports.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 10:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ports") as batch:
        batch.drop_index("ix_ports_binding_host_id")
        batch.create_index("ix_ports_host_network", ["binding_host_id", "network_id"])


def downgrade() -> None:
    with op.batch_alter_table("ports") as batch:
        batch.drop_index("ix_ports_host_network")
        batch.create_index("ix_ports_binding_host_id", ["binding_host_id"])
