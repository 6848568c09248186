"""Network ACLs (Alcor extension `alcor-network-acl`): stateless, numbered subnet filters.

The model is a VPC's network ACL: an ACL belongs to one network and is associated with some
of its subnets, each subnet with at most one ACL (`network_acl_subnets`, keyed by subnet, is
what makes that hold under concurrent requests). Every network gets a default ACL when it is
created, allowing all traffic both ways; a subnet without an ACL of its own is covered by its
network's default. An ACL may also be associated with single ports of its network, each port
with at most one ACL (`network_acl_ports`, keyed by port): a port's own ACL wins over its
subnet's (the subnet of its first fixed IP), which wins over the network's default. Rules are
numbered; for a packet the rules of its direction are evaluated lowest number first and the
first match decides (`allow` or `deny`); nothing matching means deny. Being stateless, a reply
is filtered like any other packet, so an ACL that admits requests must also admit their
replies (ephemeral ports) in the other direction.
"""

from __future__ import annotations

import sqlalchemy as sa

from alcor.resources import kinds, protocols
from alcor.resources.model import Attr, Ref, Resource, parent
from alcor.store.schema import metadata

EXTENSION = "alcor-network-acl"
DEFAULT_NAME = "default"

acl_subnets = sa.Table(
    "network_acl_subnets",
    metadata,
    sa.Column("subnet_id", sa.String(36), primary_key=True),
    sa.Column("network_acl_id", sa.String(36), nullable=False, index=True),
)

acl_ports = sa.Table(
    "network_acl_ports",
    metadata,
    sa.Column("port_id", sa.String(36), primary_key=True),
    sa.Column("network_acl_id", sa.String(36), nullable=False, index=True),
)


def _associated(name: str, target: str, through: sa.Column[str]) -> Attr:
    """The ids of the `target`s associated with an ACL, kept in the join table of `through`
    (a target that goes leaves its ACL)."""
    return Attr(
        name,
        kinds.list_of(kinds.Uuid()),
        post=True,
        put=True,
        stored=False,
        filter=False,
        sort=False,
        ref=Ref(target, on_delete="clear", through=through),
    )


acl = Resource(
    "network_acl",
    "network_acls",
    [
        parent("network_id", "network", on_delete="cascade", owned=True),
        _associated("subnets", "subnet", acl_subnets.c.subnet_id),
        _associated("ports", "port", acl_ports.c.port_id),
        Attr("is_default", kinds.Bool(), default=False),
    ],
    extensions=(EXTENSION,),
)

rule = Resource(
    "network_acl_rule",
    "network_acl_rules",
    [
        parent("network_acl_id", "network_acl", on_delete="cascade"),
        Attr("number", kinds.Int(1, 32766), post=True, put=True, required=True),
        Attr("direction", kinds.Enum("ingress", "egress"), post=True, required=True),
        Attr(
            "ethertype",
            kinds.Enum("IPv4", "IPv6", ignore_case=True),
            post=True,
            put=True,
            default="IPv4",
        ),
        Attr("protocol", protocols.Protocol(), post=True, put=True, nullable=True, default=None),
        Attr("ip_prefix", kinds.Str(64), post=True, put=True, nullable=True, default=None),
        Attr(
            "port_range_min", kinds.Int(1, 65535), post=True, put=True, nullable=True, default=None
        ),
        Attr(
            "port_range_max", kinds.Int(1, 65535), post=True, put=True, nullable=True, default=None
        ),
        Attr("icmp_type", kinds.Int(0, 255), post=True, put=True, nullable=True, default=None),
        Attr("icmp_code", kinds.Int(0, 255), post=True, put=True, nullable=True, default=None),
        Attr("action", kinds.Enum("allow", "deny"), post=True, put=True, required=True),
    ],
    omit=("name", "tags"),
    extensions=(EXTENSION,),
    table_args=(sa.UniqueConstraint("network_acl_id", "direction", "number"),),
)
