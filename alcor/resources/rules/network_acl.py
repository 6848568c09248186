"""Network ACLs' rules: one network per ACL, one ACL per subnet, numbered rules, the
default allow-all ACL that every network gets when it is created (an event of the network
kind, see `install`) and keeps until it goes itself."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import sqlalchemy as sa

from alcor import errors
from alcor.resources import crud, events, protocols, relations
from alcor.resources.context import Context
from alcor.resources.declarations import network, subnet
from alcor.resources.declarations.network_acl import DEFAULT_NAME, acl, acl_subnets, rule
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


class AclHooks(Hooks):
    """One network per ACL, one ACL per subnet, the default one kept."""

    def _associate(self, uow: UnitOfWork, item: Item, wanted: list[str]) -> None:
        if item.get("is_default") and wanted:
            raise errors.NetworkAclDefaultAssociation()
        s = subnet.resource.table
        found = {
            row[0]
            for row in uow.execute(
                sa.select(s.c.id).where(s.c.id.in_(wanted), s.c.network_id == item["network_id"])
            )
        }
        strangers = [sid for sid in wanted if sid not in found]
        if strangers:
            raise errors.NetworkAclSubnetNotInNetwork(
                subnet_id=strangers[0], network_id=item["network_id"]
            )
        taken = uow.execute(
            sa.select(acl_subnets.c.subnet_id, acl_subnets.c.network_acl_id).where(
                acl_subnets.c.subnet_id.in_(wanted),
                acl_subnets.c.network_acl_id != item["id"],
            )
        ).first()
        if taken is not None:
            raise errors.SubnetAlreadyAssociatedWithNetworkAcl(subnet_id=taken[0], acl_id=taken[1])
        uow.execute(acl_subnets.delete().where(acl_subnets.c.network_acl_id == item["id"]))
        if wanted:
            uow.execute(
                acl_subnets.insert(),
                [{"subnet_id": sid, "network_acl_id": item["id"]} for sid in wanted],
            )

    def after_create(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        self._associate(uow, item, item.get("subnets") or [])

    def before_update(self, uow: UnitOfWork, ctx: Context, old: Item, changes: Item) -> None:
        if "subnets" in changes:
            self._associate(uow, old, changes["subnets"])

    def before_delete(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        if ctx.is_system:  # its network goes: so do its associations
            uow.execute(acl_subnets.delete().where(acl_subnets.c.network_acl_id == item["id"]))
            return
        if item["is_default"]:
            raise errors.NetworkAclDefaultInUse(id=item["id"], network_id=item["network_id"])
        if uow.execute(
            sa.select(acl_subnets.c.subnet_id)
            .where(acl_subnets.c.network_acl_id == item["id"])
            .limit(1)
        ).first():
            raise errors.NetworkAclInUse(id=item["id"])

    def extend(self, conn: Conn | UnitOfWork, ctx: Context, items: list[Item]) -> None:
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
