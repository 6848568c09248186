"""Network ACLs' rules: one network per ACL, one ACL per subnet and per port, numbered rules,
the default allow-all ACL that every network gets when it is created (an event of the network
kind, see `install`) and keeps until it goes itself."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import sqlalchemy as sa

from alcor import errors
from alcor.resources import crud, events, protocols, relations
from alcor.resources.context import Context
from alcor.resources.declarations import network, port, subnet
from alcor.resources.declarations.network_acl import (
    DEFAULT_NAME,
    acl,
    acl_ports,
    acl_subnets,
    rule,
)
from alcor.resources.model import Conn, Hooks, Item

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork


def check_rule(item: Item) -> None:
    """Validate one rule (all attributes, after a create or an update) and normalise it."""
    item["protocol"] = protocols.canonical(item.get("protocol"), item["ethertype"])
    number = protocols.number(item["protocol"])
    prefix = item.get("ip_prefix")
    if prefix is not None:
        try:
            net = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            raise errors.InvalidInput(
                f"Invalid input for ip_prefix. Reason: '{prefix}' is not a valid IP subnet."
            ) from None
        if item["ethertype"] != f"IPv{net.version}":
            raise errors.NetworkAclRuleParameterConflict(ethertype=item["ethertype"], prefix=prefix)
        item["ip_prefix"] = str(net)
    lo, hi = item.get("port_range_min"), item.get("port_range_max")
    if lo is not None or hi is not None:
        if number not in protocols.PORT_PROTOCOLS:
            raise errors.NetworkAclRuleInvalidPortRange(
                msg="port_range_min/max need protocol tcp, udp, sctp, dccp or udplite"
            )
        if lo is None or hi is None or lo > hi:
            raise errors.NetworkAclRuleInvalidPortRange(
                msg="port_range_min and port_range_max must both be given, min <= max"
            )
    icmp_type, icmp_code = item.get("icmp_type"), item.get("icmp_code")
    if icmp_type is not None or icmp_code is not None:
        if number not in protocols.ICMP_PROTOCOLS:
            raise errors.NetworkAclRuleInvalidIcmp(
                msg="icmp_type/icmp_code need protocol icmp or ipv6-icmp"
            )
        if icmp_type is None:
            raise errors.NetworkAclRuleInvalidIcmp(msg="icmp_code is given without icmp_type")


def _number_taken(uow: UnitOfWork, item: Item) -> None:
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
        raise errors.NetworkAclRuleNumberInUse(
            acl_id=item["network_acl_id"],
            direction=item["direction"],
            number=item["number"],
            rule_id=row[0],
        )


def allow_all_rules(acl_id: str, project_id: str) -> list[Item]:
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


def _create_default(uow: UnitOfWork, ctx: Context, net: Item) -> None:
    """Every new network gets its default ACL (an event of the network kind)."""
    system = Context.system(net["project_id"])
    item = {
        "name": DEFAULT_NAME,
        "description": "Default network ACL: allows all traffic",
        "project_id": net["project_id"],
        "network_id": net["id"],
        "is_default": True,
        "tags": [],
    }
    made = crud.create(uow, acl, system, item)
    crud.create_many(uow, rule, system, allow_all_rules(made["id"], net["project_id"]))


def install() -> None:
    """Subscribe to the network kind's creates."""
    events.on_created(network.resource.name, _create_default)


class Association(NamedTuple):
    """One kind of association (subnets, ports): its join table, keyed by the associated id so
    that an id has at most one ACL, and the errors of an id elsewhere or on another network."""

    attr: str
    join: sa.Table
    key: sa.Column[str]
    target: sa.Table
    stranger: Callable[[str, str], errors.NeutronError]  # (id, network id)
    taken: Callable[[str, str], errors.NeutronError]  # (id, its ACL)


ASSOCIATIONS = (
    Association(
        "subnets",
        acl_subnets,
        acl_subnets.c.subnet_id,
        subnet.resource.table,
        lambda sid, nid: errors.NetworkAclSubnetNotInNetwork(subnet_id=sid, network_id=nid),
        lambda sid, aid: errors.SubnetAlreadyAssociatedWithNetworkAcl(subnet_id=sid, acl_id=aid),
    ),
    Association(
        "ports",
        acl_ports,
        acl_ports.c.port_id,
        port.resource.table,
        lambda pid, nid: errors.NetworkAclPortNotInNetwork(port_id=pid, network_id=nid),
        lambda pid, aid: errors.PortAlreadyAssociatedWithNetworkAcl(port_id=pid, acl_id=aid),
    ),
)


class AclHooks(Hooks):
    """One network per ACL, one ACL per subnet and per port, the default one kept."""

    def _associate(
        self, uow: UnitOfWork, item: Item, assoc: Association, wanted: list[str]
    ) -> None:
        if item.get("is_default") and wanted:
            raise errors.NetworkAclDefaultAssociation()
        t = assoc.target
        found = {
            row[0]
            for row in uow.execute(
                sa.select(t.c.id).where(t.c.id.in_(wanted), t.c.network_id == item["network_id"])
            )
        }
        strangers = [rid for rid in wanted if rid not in found]
        if strangers:
            raise assoc.stranger(strangers[0], item["network_id"])
        join = assoc.join
        taken = uow.execute(
            sa.select(assoc.key, join.c.network_acl_id).where(
                assoc.key.in_(wanted), join.c.network_acl_id != item["id"]
            )
        ).first()
        if taken is not None:
            raise assoc.taken(taken[0], taken[1])
        uow.execute(join.delete().where(join.c.network_acl_id == item["id"]))
        if wanted:
            uow.execute(
                join.insert(),
                [{assoc.key.name: rid, "network_acl_id": item["id"]} for rid in wanted],
            )

    def after_create(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        for assoc in ASSOCIATIONS:
            self._associate(uow, item, assoc, item.get(assoc.attr) or [])

    def before_update(self, uow: UnitOfWork, ctx: Context, old: Item, changes: Item) -> None:
        for assoc in ASSOCIATIONS:
            if assoc.attr in changes:
                self._associate(uow, old, assoc, changes[assoc.attr])

    def before_delete(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        joins = [assoc.join for assoc in ASSOCIATIONS]
        if ctx.is_system:  # its network goes: so do its associations
            for join in joins:
                uow.execute(join.delete().where(join.c.network_acl_id == item["id"]))
            return
        if item["is_default"]:
            raise errors.NetworkAclDefaultInUse(id=item["id"], network_id=item["network_id"])
        for join in joins:
            found = uow.execute(
                sa.select(join.c.network_acl_id).where(join.c.network_acl_id == item["id"]).limit(1)
            ).first()
            if found:
                raise errors.NetworkAclInUse(id=item["id"])

    def extend(self, conn: Conn | UnitOfWork, ctx: Context, items: list[Item]) -> None:
        if not items:
            return
        ids = [it["id"] for it in items]
        for assoc in ASSOCIATIONS:
            by_acl: dict[str, list[str]] = {aid: [] for aid in ids}
            join = assoc.join
            rows = conn.execute(
                sa.select(join.c.network_acl_id, assoc.key)
                .where(join.c.network_acl_id.in_(ids))
                .order_by(assoc.key)
            )
            for acl_id, rid in rows:
                by_acl[acl_id].append(rid)
            for it in items:
                it[assoc.attr] = by_acl[it["id"]]


class RuleHooks(Hooks):
    """Rules belong to their ACL's project; numbers unique per ACL and direction."""

    def before_create_many(self, uow: UnitOfWork, ctx: Context, items: list[Item]) -> None:
        seen: set[tuple[str, str, int]] = set()
        for item in items:
            owner = relations.target(uow, ctx, acl, item["network_acl_id"])
            assert owner is not None  # the reference was checked
            item["project_id"] = owner["project_id"]
            check_rule(item)
            key = (item["network_acl_id"], item["direction"], item["number"])
            if key in seen:
                raise errors.NetworkAclRuleNumberInUse(
                    f"Rule number {item['number']} ({item['direction']}) is given twice."
                )
            seen.add(key)
            _number_taken(uow, item)

    def before_update(self, uow: UnitOfWork, ctx: Context, old: Item, changes: Item) -> None:
        new = {**old, **changes}
        check_rule(new)
        if new["number"] != old["number"]:
            _number_taken(uow, new)
        for key in ("protocol", "ip_prefix"):
            if new[key] != old[key]:
                changes[key] = new[key]

    def change_scope(self, item: Item) -> tuple[str | None, str | None]:
        return None, None
