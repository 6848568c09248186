"""Security groups' rules: the default group, rule validation, duplicates, port membership.

The project's `default` group is made on first need (its first port, group or read) with
Neutron's default rules: egress anywhere, ingress from members of the group. Ports join
groups through events of the port kind (`install`): a new port without `security_groups`
gets its project's default group (Neutron's rule, except for the cloud's own ports and ports
without port security), and `port_security_groups` follows every port's list in the same
unit of work.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from alcor import errors
from alcor.resources import crud, events, grants, kinds, protocols, relations
from alcor.resources.context import Context
from alcor.resources.declarations import network, port
from alcor.resources.declarations.rbac_policy import SHARED
from alcor.resources.declarations.security_group import (
    PARENT,
    default_rule,
    default_security_groups,
    group,
    port_security_groups,
    rule,
)
from alcor.resources.model import Conn, Hooks, Item, Read, caller_project

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork

DEFAULT_NAME = "default"
DEFAULT_DESCRIPTION = "Default security group"


# -- the project's default group ---------------------------------------------------------


def _default_id() -> sa.Select[tuple[str]]:
    return group.statement(  # type: ignore[no-any-return]
        "default_id",
        lambda: sa.select(default_security_groups.c.security_group_id).where(
            default_security_groups.c.project_id == sa.bindparam("project_id")
        ),
    )


def default_group_id(conn: Conn | UnitOfWork, project_id: str) -> str | None:
    row = conn.execute(_default_id(), {"project_id": project_id}).first()
    return None if row is None else str(row[0])


def ensure_default(uow: UnitOfWork, project_id: str) -> str:
    """The project's default group id, creating the group (and its rules) if it is missing.

    The mapping row is claimed first: on PostgreSQL a concurrent transaction claiming the same
    project waits on the primary key, then finds the row and uses the winner's group.
    """
    key = ("default_sg", project_id)
    cached = uow.cache.get(key)
    if cached is not None:
        return str(cached)
    found = default_group_id(uow, project_id)
    if found is None:
        sg_id = crud.new_id()
        values = {"project_id": project_id, "security_group_id": sg_id}
        if uow.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert

            claimed = (
                uow.execute(
                    insert(default_security_groups)
                    .values(values)
                    .on_conflict_do_nothing()
                    .returning(default_security_groups.c.project_id)
                ).first()
                is not None
            )
        else:
            uow.execute(default_security_groups.insert().values(values))
            claimed = True
        if not claimed:
            found = default_group_id(uow, project_id)
        else:
            item = {
                "id": sg_id,
                "name": DEFAULT_NAME,
                "description": DEFAULT_DESCRIPTION,
                "project_id": project_id,
                "stateful": True,
                "tags": [],
            }
            crud.create_many(uow, group, Context.system(project_id), [item])
            found = sg_id
    uow.cache[key] = found
    assert found is not None
    return found


def _default_needed(
    conn: Conn, ctx: Context, filters: dict[str, list[str]] | None = None
) -> Callable[[UnitOfWork], object] | None:
    """Neutron makes the caller's default group before it lists groups or rules; an admin
    listing one project's groups (`?project_id=`) makes that project's, as Neutron's
    get_security_groups does (Neutron lets anyone do so; here a member's filter on another
    project makes nothing there)."""
    if not ctx.project_id:
        return None
    project = ctx.project_id
    wanted = (filters or {}).get("project_id") or (filters or {}).get("tenant_id")
    if wanted and ctx.is_admin:
        project = wanted[0]
    if not project or default_group_id(conn, project) is not None:
        return None
    return lambda uow: ensure_default(uow, project)


def _is_default(ctx: Context, item: Item) -> bool:
    """Only the system makes a group called `default` (the project's default group)."""
    return ctx.is_system and item.get("name") == DEFAULT_NAME


# -- ports' membership (events of the port kind) -------------------------------------------


def _assign_port_groups(uow: UnitOfWork, ctx: Context, items: list[Item]) -> None:
    """Neutron's rule: network-owned ports (router, DHCP) get no groups; a port without port
    security gets none; any other port without `security_groups` gets its project's default
    group, made on first need. The membership rows are written with the ports."""
    for item in items:
        wanted = item.get("security_groups")
        secure = item.get("port_security_enabled")
        if secure is None:
            net = relations.target(uow, ctx, network.resource, item["network_id"])
            secure = net is None or bool(net["port_security_enabled"])
        if port.trusted(item) or (secure is False and wanted is None):
            item["security_groups"] = []
        elif wanted is None:
            item["security_groups"] = [ensure_default(uow, item["project_id"])]
    _bind(uow, [(it, it["security_groups"]) for it in items], new=True)


def _default_group_reads(ctx: Context, items: list[Item]) -> list[Read]:
    """The default-group lookups of `_assign_port_groups` (ports asking for no groups)."""
    projects = {it["project_id"] for it in items if it.get("security_groups") is None}
    return [(_default_id(), {"project_id": p}) for p in sorted(projects) if p]


def _port_groups_changing(uow: UnitOfWork, ctx: Context, old: Item, changes: Item) -> None:
    if "security_groups" in changes and port.trusted({**old, **changes}):
        changes["security_groups"] = []


def _port_groups_changed(uow: UnitOfWork, ctx: Context, old: Item, new: Item) -> None:
    """The memberships follow the port's groups, and its host (a binding, a live migration's
    activation, an unbinding: every one is an update of the port)."""
    if new["security_groups"] != old["security_groups"]:
        _bind(uow, [(new, new["security_groups"] or [])])
    elif new["security_groups"] and _host(new) != _host(old):
        uow.defer(
            group.statement(
                "rehost",
                lambda: (
                    port_security_groups.update()
                    .where(port_security_groups.c.port_id == sa.bindparam("port"))
                    .values(host=sa.bindparam("host"))
                ),
            ),
            {"port": new["id"], "host": _host(new)},
        )


def _port_leaves_groups(uow: UnitOfWork, ctx: Context, item: Item) -> None:
    if item["security_groups"]:
        _bind(uow, [(item, [])])


def _host(port: Item) -> str:
    return port.get("binding:host_id") or ""


def _bind(uow: UnitOfWork, bindings: list[tuple[Item, list[str]]], *, new: bool = False) -> None:
    """Record which groups each port is in, on its host, replacing what it had (`new`:
    nothing)."""
    ports = [p["id"] for p, _ in bindings]
    if not ports:
        return
    if not new:
        uow.execute(
            group.statement(
                "unbind",
                lambda: port_security_groups.delete().where(
                    port_security_groups.c.port_id.in_(sa.bindparam("ports", expanding=True))
                ),
            ),
            {"ports": ports},
        )
    rows = [
        {"port_id": p["id"], "security_group_id": g, "host": _host(p)}
        for p, groups in bindings
        for g in groups
    ]
    if rows:
        uow.defer(group.statement("bind", port_security_groups.insert), rows)


# -- rules -------------------------------------------------------------------------------


def _check_ports(item: Item) -> None:
    lo, hi = item.get("port_range_min"), item.get("port_range_max")
    if lo is None and hi is None:
        return
    number = protocols.number(item.get("protocol"))
    if number is None:
        raise errors.SecurityGroupProtocolRequiredWithPorts()
    if number in protocols.PORT_PROTOCOLS:
        if lo == 0 or hi == 0:
            raise errors.SecurityGroupInvalidPortValue(port=0)
        if lo is None or hi is None or lo > hi:
            raise errors.SecurityGroupInvalidPortRange()
    elif number in protocols.ICMP_PROTOCOLS:
        for value, attr, field in ((lo, "port_range_min", "type"), (hi, "port_range_max", "code")):
            if value is not None and not 0 <= value <= 255:
                raise errors.SecurityGroupInvalidIcmpValue(field=field, attr=attr, value=value)
        if lo is None and hi is not None:
            raise errors.SecurityGroupMissingIcmpType(value=hi)
    else:
        raise errors.SecurityGroupInvalidProtocolForPort(protocol=item["protocol"])


def _check_prefix(item: Item) -> None:
    prefix = item.get("remote_ip_prefix")
    if prefix is None:
        item["normalized_cidr"] = None
        return
    try:
        iface = ipaddress.ip_interface(prefix)
    except ValueError:
        raise errors.InvalidInput(
            f"Invalid input for remote_ip_prefix. Reason: '{prefix}' is not a valid IP subnet."
        ) from None
    item["remote_ip_prefix"] = str(iface)
    item["normalized_cidr"] = str(iface.network)
    if item["ethertype"] != f"IPv{iface.version}":
        raise errors.SecurityGroupRuleParameterConflict(ethertype=item["ethertype"], cidr=prefix)


def fingerprint(item: Item) -> str:
    """What makes two rules the same rule (Neutron's duplicate key; 'any' prefixes and no
    prefix are equal, protocols compare by number)."""
    cidr = item.get("normalized_cidr")
    if cidr in ("0.0.0.0/0", "::/0"):
        cidr = None
    parts = (
        item["direction"],
        item["ethertype"],
        protocols.number(item.get("protocol")),
        item.get("port_range_min"),
        item.get("port_range_max"),
        item.get("remote_group_id"),
        cidr,
    )
    text = "|".join("+" if p is None else str(p) for p in parts)
    # Appended only when set, so that the fingerprints stored before address groups existed
    # still match their rules.
    address_group = item.get("remote_address_group_id")
    return f"{text}|{address_group}" if address_group else text


def check_rule(item: Item) -> None:
    """Validate and normalise one rule body in place (no database needed)."""
    item["protocol"] = protocols.canonical(item.get("protocol"), item["ethertype"])
    number = protocols.number(item["protocol"])
    if number in protocols.IPV6_ONLY_PROTOCOLS and item["ethertype"] == "IPv4":
        raise errors.SecurityGroupEthertypeConflictWithProtocol(
            ethertype="IPv4", protocol=item["protocol"]
        )
    _check_ports(item)
    _check_prefix(item)
    remotes = ("remote_ip_prefix", "remote_group_id", "remote_address_group_id")
    if sum(1 for key in remotes if item.get(key)) > 1:
        raise errors.SecurityGroupMultipleRemoteEntites()
    item["fingerprint"] = fingerprint(item)


_TEMPLATED = (
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_address_group_id",
    "description",
)


def default_rules(uow: UnitOfWork, sg_id: str, project_id: str, is_default: bool) -> list[Item]:
    """The rules of a new group, from the templates (`security-groups-default-rules`): those
    used in default groups for a project's default group, the others' for any other group;
    PARENT as the remote group is the new group itself."""
    t = default_rule.table
    used = t.c.used_in_default_sg if is_default else t.c.used_in_non_default_sg
    rows = uow.execute(
        group.statement(
            f"templates:{is_default}",
            lambda: (
                sa.select(*[t.c[a.column] for a in default_rule.stored()])
                .where(used.is_(True))
                .order_by(t.c.id)
            ),
        )
    )
    out = []
    for template in crud.rows_to_items(default_rule, rows):
        remote = template["remote_group_id"]
        item = {name: template[name] for name in _TEMPLATED}
        item.update(
            security_group_id=sg_id,
            project_id=project_id,
            remote_group_id=sg_id if remote == PARENT else remote,
            belongs_to_default_sg=is_default,
        )
        check_rule(item)
        out.append(item)
    return out


class GroupHooks(Hooks):
    """Default group on first need, reserved `default` name, in-use checks, rules inline."""

    def read_needs(
        self, conn: Conn, ctx: Context, filters: dict[str, list[str]]
    ) -> Callable[[UnitOfWork], object] | None:
        return _default_needed(conn, ctx, filters)

    def visible(self) -> sa.ColumnElement[bool]:
        return sa.or_(
            group.table.c.project_id == caller_project(),
            group.table.c.id.in_(grants.granted_ids("security_group", (SHARED,))),
        )

    def before_create(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        if _is_default(ctx, item):
            return
        if item.get("name") == DEFAULT_NAME:
            raise errors.SecurityGroupDefaultAlreadyExists()
        ensure_default(uow, item["project_id"])

    def after_create(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        rules = default_rules(uow, item["id"], item["project_id"], _is_default(ctx, item))
        if rules:  # an admin may have deleted every default rule template
            crud.create_many(uow, rule, ctx, rules)

    def before_update(self, uow: UnitOfWork, ctx: Context, old: Item, changes: Item) -> None:
        renamed = changes.get("name", old["name"]) != old["name"]
        if renamed and old["name"] == DEFAULT_NAME:
            raise errors.SecurityGroupCannotUpdateDefault()
        if renamed and changes["name"] == DEFAULT_NAME:
            raise errors.SecurityGroupDefaultAlreadyExists()
        if changes.get("stateful", old["stateful"]) != old["stateful"] and self._used(
            uow, old["id"]
        ):
            raise errors.SecurityGroupInUse(
                id=old["id"],
                reason=" Its stateful attribute cannot be changed while ports use it.",
            )

    def _used(self, uow: UnitOfWork, sg_id: str) -> bool:
        row = uow.execute(
            sa.select(port_security_groups.c.port_id)
            .where(port_security_groups.c.security_group_id == sg_id)
            .limit(1)
        ).first()
        return row is not None

    def before_delete(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        if item["name"] == DEFAULT_NAME and not ctx.is_admin:
            raise errors.SecurityGroupCannotRemoveDefault()
        uow.execute(
            default_security_groups.delete().where(
                default_security_groups.c.security_group_id == item["id"]
            )
        )

    def extend(self, conn: Conn | UnitOfWork, ctx: Context, items: list[Item]) -> None:
        if not items:
            return
        t = rule.table
        by_group: dict[str, list[Item]] = {it["id"]: [] for it in items}
        rows = conn.execute(
            sa.select(*[t.c[a.column] for a in rule.stored()])
            .where(t.c.security_group_id.in_(list(by_group)))
            .order_by(t.c.created_at, t.c.id)
        )
        for found in crud.render_many(rule, ctx, crud.rows_to_items(rule, rows)):
            by_group[found["security_group_id"]].append(found)
        for it in items:
            it["security_group_rules"] = by_group[it["id"]]
            it["shared"] = False
        grants.mark_shared(conn, "security_group", ctx.project_id, items)

    def filters(self) -> dict[str, Callable[[list[str]], sa.ColumnElement[bool]]]:
        return {"shared": _shared_filter}

    def change_scope(self, item: Item) -> tuple[str | None, str | None]:
        return None, None


def _shared_filter(values: list[str]) -> sa.ColumnElement[bool]:
    """`shared=true|false` (`security-groups-shared-filtering`): whether the group is shared
    with the caller's project by an RBAC grant (to it or to everyone), as `shared` reads."""
    wanted = {kinds.Bool().parse("shared", v) for v in values}
    granted = group.table.c.id.in_(grants.granted_ids("security_group", (SHARED,)))
    if wanted == {True}:
        return granted
    if wanted == {False}:
        return sa.not_(granted)
    return sa.true()


class RuleHooks(Hooks):
    """Validation per protocol, one group and project per bulk, duplicates refused."""

    def visible(self) -> sa.ColumnElement[bool]:
        t, g = rule.table, group.table
        return sa.or_(
            t.c.project_id == caller_project(),
            t.c.security_group_id.in_(sa.select(g.c.id).where(g.c.project_id == caller_project())),
        )

    def read_needs(
        self, conn: Conn, ctx: Context, filters: dict[str, list[str]]
    ) -> Callable[[UnitOfWork], object] | None:
        return _default_needed(conn, ctx)

    def before_create_many(self, uow: UnitOfWork, ctx: Context, items: list[Item]) -> None:
        if len({it["security_group_id"] for it in items}) > 1:
            raise errors.SecurityGroupNotSingleGroupRules()
        sg = relations.target(uow, ctx, group, items[0]["security_group_id"])
        assert sg is not None  # the reference was checked
        for item in items:
            item["belongs_to_default_sg"] = sg["name"] == DEFAULT_NAME
            if item.get("fingerprint") is None:
                check_rule(item)
        if len({it["project_id"] for it in items}) > 1:
            raise errors.SecurityGroupRulesNotSingleTenant()
        seen: set[str] = set()
        for item in items:
            if item["fingerprint"] in seen:
                raise errors.DuplicateSecurityGroupRuleInPost()
            seen.add(item["fingerprint"])
        t = rule.table
        dup = uow.execute(
            rule.statement(
                "duplicate",
                lambda: (
                    sa.select(t.c.id)
                    .where(
                        t.c.security_group_id == sa.bindparam("sg"),
                        t.c.fingerprint.in_(sa.bindparam("fps", expanding=True)),
                    )
                    .limit(1)
                ),
            ),
            {"sg": sg["id"], "fps": sorted(seen)},
        ).first()
        if dup is not None:
            raise errors.SecurityGroupRuleExists(rule_id=dup[0])

    def change_scope(self, item: Item) -> tuple[str | None, str | None]:
        return None, None


class DefaultRuleHooks(Hooks):
    """Templates: Neutron's rule validation, admins only, duplicates refused: the same rule
    twice in one template (the default groups' or the other groups'), so one rule may have
    a template for default groups and another for the rest, as in Neutron."""

    def before_create(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        check_rule(item)
        t = default_rule.table
        same_template = [
            t.c[flag] == sa.true()
            for flag in ("used_in_default_sg", "used_in_non_default_sg")
            if item[flag]
        ]
        if not same_template:
            return  # in no template: a duplicate of nothing
        dup = uow.execute(
            sa.select(t.c.id)
            .where(t.c.fingerprint == item["fingerprint"], sa.or_(*same_template))
            .order_by(t.c.used_in_default_sg.desc())  # Neutron checks that template first
        ).first()
        if dup is not None:
            raise errors.DefaultSecurityGroupRuleExists(rule_id=dup[0])

    def change_scope(self, item: Item) -> tuple[str | None, str | None]:
        return None, None


def install() -> None:
    """Subscribe to the port kind's changes (membership and the default group)."""
    events.on_creating(port.resource.name, _assign_port_groups, reads=_default_group_reads)
    events.on_updating(port.resource.name, _port_groups_changing)
    events.on_updated(port.resource.name, _port_groups_changed)
    events.on_deleting(port.resource.name, _port_leaves_groups)
