"""Inactive port bindings (`binding-extended`): a live migration's destination host until Nova
activates it; the active binding stays in the port's own columns. Ports' NUMA affinity policy
and device profile (`port-numa-affinity-policy`, `port-device-profile`). Subnet pools take RBAC
grants (`rbac-subnetpool`): the `*` grants of pools already shared become rows, as Neutron
keeps them. Networks say which is the default external one (`is_default`), and each project's
auto-allocated topology is remembered (`auto-allocated-topology`).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 09:00:00.000000
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
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
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("numa_affinity_policy", sa.String(length=9), nullable=True))
        batch_op.add_column(sa.Column("device_profile", sa.String(length=255), nullable=True))
    with op.batch_alter_table("networks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_default", sa.Boolean(), nullable=True))
    op.create_table(
        "auto_allocated_topologies",
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("router_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_auto_allocated_topologies")),
    )
    for column in ("network_id", "router_id"):
        op.create_index(
            op.f(f"ix_auto_allocated_topologies_{column}"), "auto_allocated_topologies", [column]
        )
    conn = op.get_bind()
    shared = conn.execute(
        sa.text("SELECT id, project_id FROM subnetpools WHERE shared = :yes").bindparams(yes=True)
    ).all()
    if shared:
        conn.execute(
            sa.text(
                "INSERT INTO rbac_policies (id, project_id, object_type, object_id, action, "
                "target_tenant) VALUES (:id, :project_id, 'subnetpool', :object_id, "
                "'access_as_shared', '*')"
            ),
            [
                {"id": str(uuid.uuid4()), "project_id": project, "object_id": pool_id}
                for pool_id, project in shared
            ],
        )


def downgrade() -> None:
    op.drop_table("auto_allocated_topologies")
    with op.batch_alter_table("networks", schema=None) as batch_op:
        batch_op.drop_column("is_default")
    op.execute(
        sa.text("DELETE FROM rbac_policies WHERE object_type IN ('subnetpool', 'address_group')")
    )
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.drop_column("device_profile")
        batch_op.drop_column("numa_affinity_policy")
    op.drop_index(op.f("ix_port_bindings_host"), table_name="port_bindings")
    op.drop_table("port_bindings")
