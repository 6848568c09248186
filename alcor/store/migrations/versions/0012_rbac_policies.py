"""RBAC policies: grants of networks and security groups to projects; the `*` grants of
networks already shared or external become rows, as Neutron keeps them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 06:00:00.000000
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    rbac = op.create_table(
        "rbac_policies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column("object_type", sa.String(length=14), nullable=False),
        sa.Column("object_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=18), nullable=False),
        sa.Column("target_tenant", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rbac_policies")),
        sa.UniqueConstraint(
            "object_type",
            "object_id",
            "action",
            "target_tenant",
            name=op.f("uq_rbac_policies_object_type_object_id_action_target_tenant"),
        ),
    )
    for column in ("project_id", "object_id", "target_tenant"):
        op.create_index(op.f(f"ix_rbac_policies_{column}"), "rbac_policies", [column])
    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT id, project_id, shared, router_external FROM networks")
    ).all()
    grants = []
    for net_id, project, shared, external in rows:
        for on, action in ((shared, "access_as_shared"), (external, "access_as_external")):
            if on:
                grants.append(
                    {
                        "id": str(uuid.uuid4()),
                        "project_id": project,
                        "object_type": "network",
                        "object_id": net_id,
                        "action": action,
                        "target_tenant": "*",
                        "created_at": None,
                    }
                )
    if grants:
        op.bulk_insert(rbac, grants)


def downgrade() -> None:
    op.drop_table("rbac_policies")
