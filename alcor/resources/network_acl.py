"""Network ACLs (Alcor extension `alcor-network-acl`): stateless, numbered subnet filters.

The model is a VPC's network ACL: an ACL belongs to one network and is associated with some
of its subnets, each subnet with at most one ACL (`network_acl_subnets`, keyed by subnet, is
what makes that hold under concurrent requests). Every network gets a default ACL when it is
created, allowing all traffic both ways; a subnet without an ACL of its own is covered by its
network's default. Rules are numbered; for a packet the rules of its direction are evaluated
lowest number first and the first match decides (`allow` or `deny`); nothing matching means
deny. Being stateless, a reply is filtered like any other packet, so an ACL that admits
requests must also admit their replies (ephemeral ports) in the other direction.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa

from alcor import errors
from alcor.resources import crud, kinds
from alcor.resources import security_group as sg
from alcor.resources.context import Context
from alcor.resources.model import Attr, Hooks, Resource
from alcor.store.db import UnitOfWork
from alcor.store.schema import metadata

EXTENSION = "alcor-network-acl"
DEFAULT_NAME = "default"

acl_subnets = sa.Table(
    "network_acl_subnets",
    metadata,
    sa.Column("subnet_id", sa.String(36), primary_key=True),
    sa.Column("network_acl_id", sa.String(36), nullable=False, index=True),
)

acl = Resource(
    "network_acl",
    "network_acls",
    [
        Attr("network_id", kinds.Uuid(), post=True, required=True, index=True),
        Attr(
            "subnets",
            kinds.list_of(kinds.Uuid()),
            post=True,
            put=True,
            stored=False,
            filter=False,
            sort=False,
        ),
        Attr("is_default", kinds.Bool(), default=False),
    ],
    extensions=(EXTENSION,),
)

rule = Resource(
    "network_acl_rule",
    "network_acl_rules",
    [
        Attr("network_acl_id", kinds.Uuid(), post=True, required=True, index=True),
        Attr("number", kinds.Int(1, 32766), post=True, put=True, required=True),
        Attr("direction", kinds.Enum("ingress", "egress"), post=True, required=True),
        Attr(
            "ethertype",
            kinds.Enum("IPv4", "IPv6", ignore_case=True),
            post=True,
            put=True,
            default="IPv4",
        ),
        Attr("protocol", kinds.Str(40), post=True, put=True, nullable=True, default=None),
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


def _bad(type_name: str, message: str) -> errors.NeutronError:
    return errors.typed(errors.BadRequest, type_name, message)


def check_rule(item: dict[str, Any]) -> None:
    """Validate one rule (all attributes, after a create or an update) and normalise it."""
    item["protocol"] = sg.canonical_protocol(item.get("protocol"), item["ethertype"])
    number = sg.protocol_number(item["protocol"])
    prefix = item.get("ip_prefix")
    if prefix is not None:
        try:
            net = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            raise errors.InvalidInput(
                f"Invalid input for ip_prefix. Reason: '{prefix}' is not a valid IP subnet."
            ) from None
        if item["ethertype"] != f"IPv{net.version}":
            raise _bad(
                "NetworkAclRuleParameterConflict",
                f"Conflicting value ethertype {item['ethertype']} for ip_prefix {prefix}",
            )
        item["ip_prefix"] = str(net)
    lo, hi = item.get("port_range_min"), item.get("port_range_max")
    if lo is not None or hi is not None:
        if number not in sg.PORT_PROTOCOLS:
            raise _bad(
                "NetworkAclRuleInvalidPortRange",
                "port_range_min/max need protocol tcp, udp, sctp, dccp or udplite",
            )
        if lo is None or hi is None or lo > hi:
            raise _bad(
                "NetworkAclRuleInvalidPortRange",
                "port_range_min and port_range_max must both be given, min <= max",
            )
    icmp_type, icmp_code = item.get("icmp_type"), item.get("icmp_code")
    if icmp_type is not None or icmp_code is not None:
        if number not in sg.ICMP_PROTOCOLS:
            raise _bad(
                "NetworkAclRuleInvalidIcmp", "icmp_type/icmp_code need protocol icmp or ipv6-icmp"
            )
        if icmp_type is None:
            raise _bad("NetworkAclRuleInvalidIcmp", "icmp_code is given without icmp_type")


def _number_taken(uow: UnitOfWork, item: dict[str, Any]) -> None:
    t = rule.table
    row = uow.execute(
        sa.select(t.c.id).where(
            t.c.network_acl_id == item["network_acl_id"],
            t.c.direction == item["direction"],
            t.c.number == item["number"],
            t.c.id != item["id"],
        )
    ).first()
    if row is not None:
        raise errors.typed(
            errors.Conflict,
            "NetworkAclRuleNumberInUse",
            f"Network ACL {item['network_acl_id']} already has {item['direction']} rule "
            f"number {item['number']} ({row[0]}).",
        )


def allow_all_rules(acl_id: str, project_id: str) -> list[dict[str, Any]]:
    """The default ACL's rules: allow everything, IPv4 (100) and IPv6 (101), both ways."""
    return [
        {
            "network_acl_id": acl_id,
            "project_id": project_id,
            "description": "",
            "number": number,
            "direction": direction,
            "ethertype": ethertype,
            "protocol": None,
            "ip_prefix": None,
            "port_range_min": None,
            "port_range_max": None,
            "icmp_type": None,
            "icmp_code": None,
            "action": "allow",
        }
        for direction in ("ingress", "egress")
        for number, ethertype in ((100, "IPv4"), (101, "IPv6"))
    ]


def create_default(uow: UnitOfWork, network: dict[str, Any]) -> None:
    """The network's default ACL (called when the network is created)."""
    system = Context(network["project_id"], frozenset({"admin"}))
    item = {
        "name": DEFAULT_NAME,
        "description": "Default network ACL: allows all traffic",
        "project_id": network["project_id"],
        "network_id": network["id"],
        "is_default": True,
        "tags": [],
    }
    made = crud.create(uow, acl, system, item)
    crud.create_many(uow, rule, system, allow_all_rules(made["id"], network["project_id"]))


def delete_of_network(uow: UnitOfWork, network_id: str) -> None:
    """Remove a deleted network's ACLs, their rules and associations."""
    t, r = acl.table, rule.table
    ids = [row[0] for row in uow.execute(sa.select(t.c.id).where(t.c.network_id == network_id))]
    if not ids:
        return
    uow.execute(r.delete().where(r.c.network_acl_id.in_(ids)))
    uow.execute(acl_subnets.delete().where(acl_subnets.c.network_acl_id.in_(ids)))
    uow.execute(t.delete().where(t.c.id.in_(ids)))


def forget_subnet(uow: UnitOfWork, subnet_id: str) -> None:
    """A deleted subnet leaves its ACL."""
    uow.execute(acl_subnets.delete().where(acl_subnets.c.subnet_id == subnet_id))


class AclHooks(Hooks):
    """One network per ACL, one ACL per subnet, the default one kept."""

    def _associate(self, uow: UnitOfWork, item: dict[str, Any], wanted: list[str]) -> None:
        from alcor.resources.subnet import resource as subnet

        if item.get("is_default") and wanted:
            raise _bad(
                "NetworkAclDefaultAssociation",
                "The default network ACL covers every subnet without an ACL; associate "
                "subnets with a custom ACL instead.",
            )
        s = subnet.table
        found = {
            row[0]
            for row in uow.execute(
                sa.select(s.c.id).where(s.c.id.in_(wanted), s.c.network_id == item["network_id"])
            )
        }
        strangers = [sid for sid in wanted if sid not in found]
        if strangers:
            raise _bad(
                "NetworkAclSubnetNotInNetwork",
                f"Subnet {strangers[0]} is not a subnet of network {item['network_id']}.",
            )
        taken = uow.execute(
            sa.select(acl_subnets.c.subnet_id, acl_subnets.c.network_acl_id).where(
                acl_subnets.c.subnet_id.in_(wanted),
                acl_subnets.c.network_acl_id != item["id"],
            )
        ).first()
        if taken is not None:
            raise errors.typed(
                errors.Conflict,
                "SubnetAlreadyAssociatedWithNetworkAcl",
                f"Subnet {taken[0]} is already associated with network ACL {taken[1]}; "
                "remove it there first.",
            )
        uow.execute(acl_subnets.delete().where(acl_subnets.c.network_acl_id == item["id"]))
        if wanted:
            uow.execute(
                acl_subnets.insert(),
                [{"subnet_id": sid, "network_acl_id": item["id"]} for sid in wanted],
            )

    def before_create(self, uow: UnitOfWork, ctx: Context, item: dict[str, Any]) -> None:
        from alcor.resources.network import resource as network

        try:
            net = crud.fetch(uow, network, ctx, item["network_id"])
        except errors.NotFound:
            raise errors.not_found("network", item["network_id"]) from None
        if not ctx.is_admin and net["project_id"] != ctx.project_id:
            raise errors.not_found("network", item["network_id"])

    def after_create(self, uow: UnitOfWork, ctx: Context, item: dict[str, Any]) -> None:
        self._associate(uow, item, item.get("subnets") or [])

    def before_update(
        self, uow: UnitOfWork, ctx: Context, old: dict[str, Any], changes: dict[str, Any]
    ) -> None:
        if "subnets" in changes:
            self._associate(uow, old, changes["subnets"])

    def before_delete(self, uow: UnitOfWork, ctx: Context, item: dict[str, Any]) -> None:
        if item["is_default"]:
            raise errors.typed(
                errors.Conflict,
                "NetworkAclDefaultInUse",
                f"Network ACL {item['id']} is the default ACL of network "
                f"{item['network_id']}; it goes with the network.",
            )
        if uow.execute(
            sa.select(acl_subnets.c.subnet_id)
            .where(acl_subnets.c.network_acl_id == item["id"])
            .limit(1)
        ).first():
            raise errors.typed(
                errors.Conflict,
                "NetworkAclInUse",
                f"Network ACL {item['id']} is associated with subnets; disassociate them first.",
            )
        uow.execute(rule.table.delete().where(rule.table.c.network_acl_id == item["id"]))

    def extend(self, conn: Any, ctx: Context, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        by_acl: dict[str, list[str]] = {it["id"]: [] for it in items}
        rows = conn.execute(
            sa.select(acl_subnets.c.network_acl_id, acl_subnets.c.subnet_id)
            .where(acl_subnets.c.network_acl_id.in_(list(by_acl)))
            .order_by(acl_subnets.c.subnet_id)
        )
        for acl_id, subnet_id in rows:
            by_acl[acl_id].append(subnet_id)
        for it in items:
            it["subnets"] = by_acl[it["id"]]


class RuleHooks(Hooks):
    """Rules belong to their ACL's project; numbers unique per ACL and direction."""

    def before_create_many(
        self, uow: UnitOfWork, ctx: Context, items: list[dict[str, Any]]
    ) -> None:
        seen: set[tuple[str, str, int]] = set()
        for item in items:
            try:
                owner = crud.fetch(uow, acl, ctx, item["network_acl_id"])
            except errors.NotFound:
                raise errors.not_found("network_acl", item["network_acl_id"]) from None
            item["project_id"] = owner["project_id"]
            check_rule(item)
            key = (item["network_acl_id"], item["direction"], item["number"])
            if key in seen:
                raise errors.typed(
                    errors.Conflict,
                    "NetworkAclRuleNumberInUse",
                    f"Rule number {item['number']} ({item['direction']}) is given twice.",
                )
            seen.add(key)
            _number_taken(uow, item)

    def before_update(
        self, uow: UnitOfWork, ctx: Context, old: dict[str, Any], changes: dict[str, Any]
    ) -> None:
        new = {**old, **changes}
        check_rule(new)
        if new["number"] != old["number"]:
            _number_taken(uow, new)
        for key in ("protocol", "ip_prefix"):
            if new[key] != old[key]:
                changes[key] = new[key]

    def change_scope(self, item: dict[str, Any]) -> tuple[str | None, str | None]:
        return None, None
