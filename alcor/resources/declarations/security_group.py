"""Security groups and their rules (`security-group`, `stateful-security-group`).

Every project has exactly one `default` group, made on first need; `default_security_groups`,
keyed by project, is what makes "exactly one" hold when two API processes need it at once.
A rule's identity for duplicate detection is its `fingerprint`, unique per group in SQL.
Which groups a port is in is kept twice, on purpose: as the port's `security_groups` list
(what the API renders, read without a join) and as `port_security_groups` rows (what "is
this group in use", "who are the members of this group" and "which hosts hold them" query).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from alcor import errors
from alcor.resources import kinds, protocols
from alcor.resources.model import Attr, Ref, Resource, parent
from alcor.store.schema import metadata

default_security_groups = sa.Table(
    "default_security_groups",
    metadata,
    sa.Column("project_id", sa.String(255), primary_key=True),
    sa.Column("security_group_id", sa.String(36), nullable=False),
)

# `host` is the port's `binding:host_id` ("" unbound), kept with each membership so that a
# group's hosts are a skip scan of (group, host), one probe per host, not a read of every
# member (1.8 s for a group of 1M members, the compiler publishing nothing meanwhile).
port_security_groups = sa.Table(
    "port_security_groups",
    metadata,
    sa.Column("port_id", sa.String(36), primary_key=True),
    sa.Column("security_group_id", sa.String(36), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False, server_default=""),
    sa.Index("ix_port_security_groups_group_host", "security_group_id", "host"),
)


class _Ethertype(kinds.Enum):
    """IPv4/IPv6, any case, refused with Neutron's own error type."""

    def __init__(self) -> None:
        super().__init__("IPv4", "IPv6", ignore_case=True)

    def check(self, name: str, value: Any) -> Any:
        try:
            return super().check(name, value)
        except errors.InvalidInput:
            raise errors.SecurityGroupRuleInvalidEtherType(
                ethertype=value, values="['IPv4', 'IPv6']"
            ) from None


class _RemoteId(kinds.Str):
    """A remote group's or address group's id: any text, because Neutron answers a name that
    is no such group's id (UUID or not) with the target's 404 from the reference check, not
    with a 400."""

    def __init__(self, not_found: Callable[[str], errors.NeutronError]) -> None:
        super().__init__(36)
        self.not_found = not_found

    def check(self, name: str, value: Any) -> Any:
        if not isinstance(value, str) or len(value) > self.max_len:
            raise self.not_found(str(value))
        return value


group = Resource(
    "security_group",
    "security_groups",
    [
        Attr("stateful", kinds.Bool(), post=True, put=True, default=True),
        Attr("shared", kinds.Bool(), stored=False, filter=False, sort=False),
        Attr("security_group_rules", kinds.Json(), stored=False, filter=False, sort=False),
    ],
    extensions=("security-group", "stateful-security-group", "security-groups-shared-filtering"),
    quota="security_group",
    not_found=lambda rid: errors.SecurityGroupNotFound(id=rid),
)


def _rule_attrs() -> list[Attr]:
    """What a rule and a default rule template (`default_rule`) both say: direction, ethertype,
    protocol, ports, remote prefix and its normalised form, and the duplicate key."""
    return [
        Attr("direction", kinds.Enum("ingress", "egress"), post=True, required=True),
        Attr("ethertype", _Ethertype(), post=True, default="IPv4"),
        Attr("protocol", protocols.Protocol(), post=True, nullable=True, default=None),
        Attr("port_range_min", protocols.PortNumber(), post=True, nullable=True, default=None),
        Attr("port_range_max", protocols.PortNumber(), post=True, nullable=True, default=None),
        Attr("remote_ip_prefix", kinds.Str(64), post=True, nullable=True, default=None),
        Attr("normalized_cidr", kinds.Str(64), default=None),
        Attr("fingerprint", kinds.Str(255), visible=False, filter=False, sort=False),
    ]


rule = Resource(
    "security_group_rule",
    "security_group_rules",
    [
        parent("security_group_id", "security_group", on_delete="cascade", revises=True),
        *_rule_attrs(),
        Attr(
            "remote_group_id",
            _RemoteId(lambda rid: errors.SecurityGroupNotFound(id=rid)),
            post=True,
            nullable=True,
            default=None,
            index=True,
            ref=Ref("security_group", on_delete="cascade", same_project=True),
        ),
        Attr(
            "remote_address_group_id",
            _RemoteId(lambda rid: errors.not_found("address_group", rid)),
            post=True,
            nullable=True,
            default=None,
            index=True,
            ref=Ref(
                "address_group",
                same_project=True,  # or shared with the rule's project (rbac-address-group)
                in_use=lambda rid: errors.AddressGroupInUse(address_group_id=rid),
            ),
        ),
        Attr("belongs_to_default_sg", kinds.Bool(), default=False),
    ],
    omit=("name", "tags"),
    extensions=("security-groups-normalized-cidr", "security-groups-rules-belongs-to-default-sg"),
    updatable=False,
    quota="security_group_rule",
    table_args=(sa.UniqueConstraint("security_group_id", "fingerprint"),),
    not_found=lambda rid: errors.SecurityGroupRuleNotFound(id=rid),
)

# The template of the rules every new group gets (`security-groups-default-rules`): a
# `remote_group_id` of PARENT means the new group itself. Seeded with Neutron's defaults by the
# migration that made the table (egress anywhere for every group, ingress from its own members
# for a project's default group).
PARENT = "PARENT"

default_rule = Resource(
    "default_security_group_rule",
    "default_security_group_rules",
    [
        Attr("id", kinds.Uuid()),
        Attr("description", kinds.Str(255), post=True, default=""),
        *_rule_attrs(),
        Attr("remote_group_id", kinds.Str(36), post=True, nullable=True, default=None),
        Attr("remote_address_group_id", kinds.Str(36), post=True, nullable=True, default=None),
        Attr("used_in_default_sg", kinds.Bool(), post=True, default=False),
        Attr("used_in_non_default_sg", kinds.Bool(), post=True, default=True),
    ],
    standard=False,
    project_scoped=False,
    taggable=False,
    logged=False,
    updatable=False,
    extensions=("security-groups-default-rules",),
    # a rule once per template (0022): the default groups' and the other groups'
    table_args=(
        sa.UniqueConstraint(
            "fingerprint",
            "used_in_default_sg",
            "used_in_non_default_sg",
            name="uq_default_sg_rules_template",
        ),
    ),
    not_found=lambda rid: errors.DefaultSecurityGroupRuleNotFound(id=rid),
)
