"""Tables that are not Neutron resources: the change log, hosts, tags and the southbound's own
bookkeeping (port provisioning, published address-set members, subject seqs).

Resource tables (networks, subnets, ports, ...) are generated from the attribute declarations
in `alcor.resources` onto the same `metadata`, so that adding an attribute is one declaration.
Everything here is portable SQL for SQLite and PostgreSQL (and PostgreSQL-wire databases).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# A 64-bit integer that is still SQLite's rowid alias (so it autoincrements there).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The transactional outbox. One row per changed resource, written in the same transaction as
# the change; `seq` order equals commit order (the unit of work serialises the tail of
# writing transactions on PostgreSQL), so a reader that has seen seq N has seen all <= N.
changelog = sa.Table(
    "changelog",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("committed_at", sa.Float, nullable=False),  # unix time
    sa.Column("resource", sa.String(32), nullable=False),  # "port", "network", "subnet", ...
    sa.Column("resource_id", sa.String(36), nullable=False),
    sa.Column("op", sa.String(8), nullable=False),  # "create" | "update" | "delete"
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("network_id", sa.String(36)),  # network the resource belongs to, if any
    sa.Column("host_id", sa.String(255)),  # host the resource is bound to (after the change)
    sa.Column("old_host_id", sa.String(255)),  # host it was bound to before (rebind/unbind)
    sa.Column("parent_id", sa.String(36)),  # what the resource belongs to (a rule's group)
    sa.Column("project_id", sa.String(255)),
    # The API request that made the change (`X-Openstack-Request-Id`); NULL for changes made
    # by no request (the southbound's own writes).
    sa.Column("request_id", sa.String(64)),
    sa.Column("requested_at", sa.Float),  # when that request arrived (unix time)
)

# Hypervisors (agents). Registered by the agents themselves or pre-registered by admins.
hosts = sa.Table(
    "hosts",
    metadata,
    sa.Column("host_id", sa.String(255), primary_key=True),  # the hostname Nova binds to
    sa.Column("id", sa.String(36), nullable=False, unique=True),  # agent id for /v2.0/agents
    sa.Column("tunnel_ip", sa.String(64)),
    sa.Column("agent_type", sa.String(64), nullable=False, server_default="Open vSwitch agent"),
    sa.Column("binary", sa.String(64), nullable=False, server_default="alcor-agent"),
    sa.Column("topic", sa.String(64), nullable=False, server_default="N/A"),
    sa.Column("availability_zone", sa.String(255)),
    sa.Column("configurations", sa.JSON, nullable=False, server_default="{}"),
    sa.Column("admin_state_up", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("description", sa.String(255), nullable=False, server_default=""),
    sa.Column("heartbeat_at", sa.Float),  # unix time of the last heartbeat; None = never
    sa.Column("started_at", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("applied_seq", sa.BigInteger, nullable=False, server_default="0"),
    # the state audit: what the agent last reported it holds, per kind, and when
    sa.Column("digests", sa.JSON),
    sa.Column("digested_at", sa.Float),
)

# Neutron tags, for every resource kind.
tags = sa.Table(
    "tags",
    metadata,
    sa.Column("resource", sa.String(32), primary_key=True),
    sa.Column("resource_id", sa.String(36), primary_key=True),
    sa.Column("tag", sa.String(255), primary_key=True),
    sa.Index("ix_tags_tag", "resource", "tag"),
)

# Provisioning of a port on its host: the timeline readable by admins and the last report.
port_provisioning = sa.Table(
    "port_provisioning",
    metadata,
    sa.Column("port_id", sa.String(36), primary_key=True),
    sa.Column("host_id", sa.String(255)),
    # Revision the host last reported on (until it reports: the one its binding was sent at).
    sa.Column("revision", sa.Integer, nullable=False, server_default="0"),
    # Revision the current binding started at: the host's reports count from it on.
    sa.Column("bound_revision", sa.Integer, nullable=False, server_default="0"),
    sa.Column("state", sa.String(16), nullable=False, server_default="PENDING"),
    sa.Column("reason", sa.String(255), nullable=False, server_default=""),
    sa.Column("committed_at", sa.Float),
    sa.Column("compiled_at", sa.Float),
    sa.Column("published_at", sa.Float),
    sa.Column("received_at", sa.Float),
    sa.Column("programmed_at", sa.Float),
    sa.Column("reported_at", sa.Float),
    # The API request whose change the compiler published last for this port, and the one
    # the host says it programmed (echoed from `PortState.request_id` in its report).
    sa.Column("request_id", sa.String(64)),
    sa.Column("reported_request_id", sa.String(64)),
    # The rest of the chain `alcor port trace` shows: when that request arrived, when the
    # port last turned ACTIVE on this binding, and when Nova was told of it (and what).
    sa.Column("requested_at", sa.Float),
    sa.Column("active_at", sa.Float),
    sa.Column("nova_notified_at", sa.Float),
    sa.Column("nova_event", sa.String(64)),
)

# Where each router with an external gateway does its SNAT (the southbound's placement, like
# Neutron's router-to-L3-agent binding): written by the gateway scheduler (`southbound.gateways`)
# only, read by the compiler into the router's state.
router_gateways = sa.Table(
    "router_gateways",
    metadata,
    sa.Column("router_id", sa.String(36), primary_key=True),
    sa.Column("host_id", sa.String(255), nullable=False),
    sa.Column("placed_at", sa.Float, nullable=False),
)

# What the compiler last published as each port's entry in each security group's address set.
# The change log says that a port changed, not which groups it left nor whether its addresses
# moved, so the compiler diffs a changed port's groups and addresses against these rows and
# publishes only joins, leaves and address changes; rewritten when the compiler advances.
address_set_members = sa.Table(
    "address_set_members",
    metadata,
    sa.Column("port_id", sa.String(36), primary_key=True),
    sa.Column("security_group_id", sa.String(36), primary_key=True),
    sa.Column("ips", sa.JSON, nullable=False),
)

# Where each publisher has got to: the last change-log seq published on each subject (the
# `prev_seq` of the next message) and the compiler's own cursor (subject "compiler").
subject_seqs = sa.Table(
    "subject_seqs",
    metadata,
    sa.Column("subject", sa.String(300), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
)
