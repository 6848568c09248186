"""Auto-allocated topologies (`auto-allocated-topology`, Nova's `--nic auto`): per project,
the network and router made for it on first ask (`alcor.resources.auto_allocate`). Not a kind
of its own in the API (it is read and deleted by project id), so only its table is declared.
"""

from __future__ import annotations

import sqlalchemy as sa

from alcor.store.schema import metadata

topologies = sa.Table(
    "auto_allocated_topologies",
    metadata,
    sa.Column("project_id", sa.String(255), primary_key=True),
    sa.Column("network_id", sa.String(36), nullable=False, index=True),
    sa.Column("router_id", sa.String(36), index=True),
)
