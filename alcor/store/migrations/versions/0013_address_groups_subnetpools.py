"""Address groups (`address-group`) and security group rules naming one as their remote;
subnet pools (`subnet_allocation`) and the index of subnets by pool; every router says it is
distributed (`dvr`), as every router here is; default security group rule templates
(`security-groups-default-rules`) seeded with Neutron's defaults.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25 10:00:00.000000
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Neutron's default templates: (direction, ethertype, remote group, in default groups, in
# others); the fingerprint is the rules' duplicate key (`rules.security_group.fingerprint`).
_TEMPLATES = [
    ("ingress", "IPv4", "PARENT", True, False),
    ("ingress", "IPv6", "PARENT", True, False),
    ("egress", "IPv4", None, True, True),
    ("egress", "IPv6", None, True, True),
]


def upgrade() -> None:
    op.create_table(
        "address_groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=True),
        sa.Column("revision_number", sa.BigInteger(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column("addresses", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address_groups")),
    )
    with op.batch_alter_table("address_groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_address_groups_project_id"), ["project_id"])
    with op.batch_alter_table("security_group_rules", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("remote_address_group_id", sa.String(length=36), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_security_group_rules_remote_address_group_id"),
            ["remote_address_group_id"],
        )
    op.create_table(
        "subnetpools",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=True),
        sa.Column("revision_number", sa.BigInteger(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column("prefixes", sa.JSON(), nullable=False),
        sa.Column("ip_version", sa.BigInteger(), nullable=True),
        sa.Column("default_prefixlen", sa.BigInteger(), nullable=True),
        sa.Column("min_prefixlen", sa.BigInteger(), nullable=True),
        sa.Column("max_prefixlen", sa.BigInteger(), nullable=True),
        sa.Column("default_quota", sa.BigInteger(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=True),
        sa.Column("shared", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subnetpools")),
    )
    with op.batch_alter_table("subnetpools", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subnetpools_project_id"), ["project_id"])
    with op.batch_alter_table("subnets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subnets_subnetpool_id"), ["subnetpool_id"])
    op.execute(sa.text("UPDATE routers SET distributed = :yes").bindparams(yes=True))
    templates = op.create_table(
        "default_security_group_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("direction", sa.String(length=7), nullable=False),
        sa.Column("ethertype", sa.String(length=4), nullable=True),
        sa.Column("protocol", sa.String(length=40), nullable=True),
        sa.Column("port_range_min", sa.BigInteger(), nullable=True),
        sa.Column("port_range_max", sa.BigInteger(), nullable=True),
        sa.Column("remote_ip_prefix", sa.String(length=64), nullable=True),
        sa.Column("normalized_cidr", sa.String(length=64), nullable=True),
        sa.Column("fingerprint", sa.String(length=255), nullable=True),
        sa.Column("remote_group_id", sa.String(length=36), nullable=True),
        sa.Column("remote_address_group_id", sa.String(length=36), nullable=True),
        sa.Column("used_in_default_sg", sa.Boolean(), nullable=True),
        sa.Column("used_in_non_default_sg", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_default_security_group_rules")),
        sa.UniqueConstraint(
            "fingerprint", name=op.f("uq_default_security_group_rules_fingerprint")
        ),
    )
    op.bulk_insert(
        templates,
        [
            {
                "id": str(uuid.uuid4()),
                "description": "",
                "direction": direction,
                "ethertype": ethertype,
                "fingerprint": f"{direction}|{ethertype}|+|+|+|{remote or '+'}|+",
                "remote_group_id": remote,
                "used_in_default_sg": in_default,
                "used_in_non_default_sg": in_others,
            }
            for direction, ethertype, remote, in_default, in_others in _TEMPLATES
        ],
    )


def downgrade() -> None:
    op.drop_table("default_security_group_rules")
    with op.batch_alter_table("subnets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subnets_subnetpool_id"))
    with op.batch_alter_table("subnetpools", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subnetpools_project_id"))
    op.drop_table("subnetpools")
    with op.batch_alter_table("security_group_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_security_group_rules_remote_address_group_id"))
        batch_op.drop_column("remote_address_group_id")
    with op.batch_alter_table("address_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_address_groups_project_id"))
    op.drop_table("address_groups")
