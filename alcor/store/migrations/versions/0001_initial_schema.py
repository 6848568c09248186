"""Initial schema: resources, allocators, change log, hosts, provisioning.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 20:41:25.859107
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "changelog",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("committed_at", sa.Float(), nullable=False),
        sa.Column("resource", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("network_id", sa.String(length=36), nullable=True),
        sa.Column("host_id", sa.String(length=255), nullable=True),
        sa.Column("old_host_id", sa.String(length=255), nullable=True),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_changelog")),
    )
    op.create_table(
        "hosts",
        sa.Column("host_id", sa.String(length=255), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tunnel_ip", sa.String(length=64), nullable=True),
        sa.Column(
            "agent_type", sa.String(length=64), server_default="Open vSwitch agent", nullable=False
        ),
        sa.Column("binary", sa.String(length=64), server_default="alcor-agent", nullable=False),
        sa.Column("topic", sa.String(length=64), server_default="N/A", nullable=False),
        sa.Column("availability_zone", sa.String(length=255), nullable=True),
        sa.Column("configurations", sa.JSON(), server_default="{}", nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("description", sa.String(length=255), server_default="", nullable=False),
        sa.Column("heartbeat_at", sa.Float(), nullable=True),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("applied_seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("host_id", name=op.f("pk_hosts")),
        sa.UniqueConstraint("id", name=op.f("uq_hosts_id")),
    )
    op.create_table(
        "ipam_buckets",
        sa.Column("pool_id", sa.String(length=255), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column(
            "hwm",
            sa.String(length=32).with_variant(sa.String(length=32, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("ahead", sa.Integer(), server_default="0", nullable=False),
        sa.Column("nfree", sa.Integer(), server_default="0", nullable=False),
        sa.Column("used", sa.Integer(), server_default="0", nullable=False),
        sa.Column("full", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("gen", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("pool_id", "bucket", name=op.f("pk_ipam_buckets")),
    )
    op.create_table(
        "ipam_free",
        sa.Column("pool_id", sa.String(length=255), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column(
            "vkey",
            sa.String(length=32).with_variant(sa.String(length=32, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("pool_id", "bucket", "vkey", name=op.f("pk_ipam_free")),
    )
    op.create_table(
        "ipam_pools",
        sa.Column("pool_id", sa.String(length=255), nullable=False),
        sa.Column("ranges", sa.Text(), nullable=False),
        sa.Column("nbuckets", sa.Integer(), nullable=False),
        sa.Column("gen", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("pool_id", name=op.f("pk_ipam_pools")),
    )
    op.create_table(
        "ipam_used",
        sa.Column("pool_id", sa.String(length=255), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column(
            "vkey",
            sa.String(length=32).with_variant(sa.String(length=32, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("display", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("pool_id", "bucket", "vkey", name=op.f("pk_ipam_used")),
    )
    with op.batch_alter_table("ipam_used", schema=None) as batch_op:
        batch_op.create_index("ix_ipam_used_display", ["display"], unique=False)
        batch_op.create_index("ix_ipam_used_owner", ["owner"], unique=False)

    op.create_table(
        "networks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=True),
        sa.Column("revision_number", sa.BigInteger(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column("admin_state_up", sa.Boolean(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("shared", sa.Boolean(), nullable=True),
        sa.Column("mtu", sa.BigInteger(), nullable=True),
        sa.Column("router_external", sa.Boolean(), nullable=True),
        sa.Column("port_security_enabled", sa.Boolean(), nullable=True),
        sa.Column("provider_network_type", sa.String(length=6), nullable=True),
        sa.Column("provider_physical_network", sa.String(length=64), nullable=True),
        sa.Column("provider_segmentation_id", sa.BigInteger(), nullable=True),
        sa.Column("dns_domain", sa.String(length=255), nullable=True),
        sa.Column("availability_zone_hints", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_networks")),
        sa.UniqueConstraint(
            "provider_segmentation_id", name=op.f("uq_networks_provider_segmentation_id")
        ),
    )
    with op.batch_alter_table("networks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_networks_project_id"), ["project_id"], unique=False)

    op.create_table(
        "port_provisioning",
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("host_id", sa.String(length=255), nullable=True),
        sa.Column("revision", sa.Integer(), server_default="0", nullable=False),
        sa.Column("state", sa.String(length=16), server_default="PENDING", nullable=False),
        sa.Column("reason", sa.String(length=255), server_default="", nullable=False),
        sa.Column("committed_at", sa.Float(), nullable=True),
        sa.Column("compiled_at", sa.Float(), nullable=True),
        sa.Column("published_at", sa.Float(), nullable=True),
        sa.Column("received_at", sa.Float(), nullable=True),
        sa.Column("programmed_at", sa.Float(), nullable=True),
        sa.Column("reported_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("port_id", name=op.f("pk_port_provisioning")),
    )
    op.create_table(
        "ports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=True),
        sa.Column("revision_number", sa.BigInteger(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("mac_address", sa.String(length=17), nullable=True),
        sa.Column("fixed_ips", sa.JSON(), nullable=True),
        sa.Column("admin_state_up", sa.Boolean(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("device_id", sa.String(length=255), nullable=True),
        sa.Column("device_owner", sa.String(length=255), nullable=True),
        sa.Column("binding_host_id", sa.String(length=255), nullable=True),
        sa.Column("binding_vnic_type", sa.String(length=16), nullable=True),
        sa.Column("binding_profile", sa.JSON(), nullable=True),
        sa.Column("binding_vif_type", sa.String(length=64), nullable=True),
        sa.Column("binding_vif_details", sa.JSON(), nullable=True),
        sa.Column("allowed_address_pairs", sa.JSON(), nullable=True),
        sa.Column("port_security_enabled", sa.Boolean(), nullable=True),
        sa.Column("security_groups", sa.JSON(), nullable=True),
        sa.Column("extra_dhcp_opts", sa.JSON(), nullable=True),
        sa.Column("dns_name", sa.String(length=255), nullable=True),
        sa.Column("ip_allocation", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ports")),
        sa.UniqueConstraint(
            "network_id", "mac_address", name=op.f("uq_ports_network_id_mac_address")
        ),
    )
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ports_binding_host_id"), ["binding_host_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ports_device_id"), ["device_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ports_network_id"), ["network_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ports_project_id"), ["project_id"], unique=False)

    op.create_table(
        "subject_seqs",
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_subject_seqs")),
    )
    op.create_table(
        "subnets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=True),
        sa.Column("revision_number", sa.BigInteger(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("ip_version", sa.BigInteger(), nullable=False),
        sa.Column("cidr", sa.String(length=64), nullable=True),
        sa.Column("subnetpool_id", sa.String(length=36), nullable=True),
        sa.Column("gateway_ip", sa.String(length=64), nullable=True),
        sa.Column("allocation_pools", sa.JSON(), nullable=True),
        sa.Column("dns_nameservers", sa.JSON(), nullable=True),
        sa.Column("host_routes", sa.JSON(), nullable=True),
        sa.Column("enable_dhcp", sa.Boolean(), nullable=True),
        sa.Column("ipv6_ra_mode", sa.String(length=16), nullable=True),
        sa.Column("ipv6_address_mode", sa.String(length=16), nullable=True),
        sa.Column("service_types", sa.JSON(), nullable=True),
        sa.Column("segment_id", sa.String(length=36), nullable=True),
        sa.Column("dns_publish_fixed_ip", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subnets")),
    )
    with op.batch_alter_table("subnets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subnets_network_id"), ["network_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_subnets_project_id"), ["project_id"], unique=False)

    op.create_table(
        "tags",
        sa.Column("resource", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("tag", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("resource", "resource_id", "tag", name=op.f("pk_tags")),
    )
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.create_index("ix_tags_tag", ["resource", "tag"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_index("ix_tags_tag")

    op.drop_table("tags")
    with op.batch_alter_table("subnets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subnets_project_id"))
        batch_op.drop_index(batch_op.f("ix_subnets_network_id"))

    op.drop_table("subnets")
    op.drop_table("subject_seqs")
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ports_project_id"))
        batch_op.drop_index(batch_op.f("ix_ports_network_id"))
        batch_op.drop_index(batch_op.f("ix_ports_device_id"))
        batch_op.drop_index(batch_op.f("ix_ports_binding_host_id"))

    op.drop_table("ports")
    op.drop_table("port_provisioning")
    with op.batch_alter_table("networks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_networks_project_id"))

    op.drop_table("networks")
    with op.batch_alter_table("ipam_used", schema=None) as batch_op:
        batch_op.drop_index("ix_ipam_used_owner")
        batch_op.drop_index("ix_ipam_used_display")

    op.drop_table("ipam_used")
    op.drop_table("ipam_pools")
    op.drop_table("ipam_free")
    op.drop_table("ipam_buckets")
    op.drop_table("hosts")
    op.drop_table("changelog")
