"""Security groups and their rules: declarations and Neutron's rules for them.

Every project has exactly one `default` group, made on first need (its first port, group or
read) with Neutron's default rules: egress anywhere, ingress from members of the group. The
`default_security_groups` table, keyed by project, is what makes "exactly one" hold when two
API processes need it at once: the second insert finds the first one's row and uses it.

A rule's identity for duplicate detection is its `fingerprint` (direction, ethertype,
protocol as a number, ports, remote group, normalised prefix), unique per group in SQL, so a
duplicate is one indexed lookup however many rules the group has, and two concurrent equal
rules cannot both commit.

Which groups a port is in is kept twice, on purpose: as the port's `security_groups` list
(what the API renders, read without a join) and as `port_security_groups` rows (what "is this
group in use" and "who are the members of this group" query). Both are written in the same
unit of work by the port hooks.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa

from alcor import errors
from alcor.resources import crud, kinds
from alcor.resources.context import Context
from alcor.resources.model import Attr, Hooks, Resource
from alcor.store.db import UnitOfWork
from alcor.store.schema import metadata

DEFAULT_DESCRIPTION = "Default security group"

default_security_groups = sa.Table(
    "default_security_groups",
    metadata,
    sa.Column("project_id", sa.String(255), primary_key=True),
    sa.Column("security_group_id", sa.String(36), nullable=False),
)

port_security_groups = sa.Table(
    "port_security_groups",
    metadata,
    sa.Column("port_id", sa.String(36), primary_key=True),
    sa.Column("security_group_id", sa.String(36), primary_key=True, index=True),
)

# IANA numbers of the protocol names Neutron accepts (neutron_lib.constants.IP_PROTOCOL_MAP).
PROTOCOLS = {
    "ah": 51,
    "dccp": 33,
    "egp": 8,
    "esp": 50,
    "gre": 47,
    "hopopt": 0,
    "icmp": 1,
    "igmp": 2,
    "ip": 0,
    "ipip": 4,
    "ipv6-encap": 41,
    "ipv6-frag": 44,
    "ipv6-icmp": 58,
    "icmpv6": 58,
    "ipv6-nonxt": 59,
    "ipv6-opts": 60,
    "ipv6-route": 43,
    "ospf": 89,
    "pgm": 113,
    "rsvp": 46,
    "sctp": 132,
    "tcp": 6,
    "udp": 17,
    "udplite": 136,
    "vrrp": 112,
}
PORT_PROTOCOLS = {6, 17, 33, 132, 136}  # tcp, udp, dccp, sctp, udplite
ICMP_PROTOCOLS = {1, 58}
IPV6_ONLY_PROTOCOLS = {41, 43, 44, 58, 59, 60}


class _Ethertype(kinds.Enum):
    """IPv4/IPv6, any case, refused with Neutron's own error type."""

    def __init__(self) -> None:
        super().__init__("IPv4", "IPv6", ignore_case=True)

    def check(self, name: str, value: Any) -> Any:
        try:
            return super().check(name, value)
        except errors.InvalidInput:
            raise errors.typed(
                errors.BadRequest,
                "SecurityGroupRuleInvalidEtherType",
                f"Security group rule for ethertype '{value}' not supported. "
                "Allowed values are ['IPv4', 'IPv6'].",
            ) from None


group = Resource(
    "security_group",
    "security_groups",
    [
        Attr("stateful", kinds.Bool(), post=True, put=True, default=True),
        Attr("shared", kinds.Bool(), stored=False, filter=False, sort=False),
        Attr(
            "security_group_rules",
            kinds.Json(),
            stored=False,
            filter=False,
            sort=False,
        ),
    ],
    extensions=("security-group", "stateful-security-group"),
    quota="security_group",
)

rule = Resource(
    "security_group_rule",
    "security_group_rules",
    [
        Attr("security_group_id", kinds.Uuid(), post=True, required=True, index=True),
        Attr("direction", kinds.Enum("ingress", "egress"), post=True, required=True),
        Attr("ethertype", _Ethertype(), post=True, default="IPv4"),
        Attr("protocol", kinds.Str(40), post=True, nullable=True, default=None),
        Attr("port_range_min", kinds.Int(0, 65535), post=True, nullable=True, default=None),
        Attr("port_range_max", kinds.Int(0, 65535), post=True, nullable=True, default=None),
        Attr("remote_ip_prefix", kinds.Str(64), post=True, nullable=True, default=None),
        Attr("normalized_cidr", kinds.Str(64), default=None),
        Attr("remote_group_id", kinds.Uuid(), post=True, nullable=True, default=None, index=True),
        Attr("belongs_to_default_sg", kinds.Bool(), default=False),
        Attr("fingerprint", kinds.Str(255), visible=False, filter=False, sort=False),
    ],
    omit=("name", "tags"),
    updatable=False,
    quota="security_group_rule",
    table_args=(sa.UniqueConstraint("security_group_id", "fingerprint"),),
)


def _not_found(kind: str, rid: str) -> errors.NeutronError:
    label = "Security group" if kind == "security_group" else "Security group rule"
    camel = "SecurityGroup" if kind == "security_group" else "SecurityGroupRule"
    return errors.typed(errors.NotFound, f"{camel}NotFound", f"{label} {rid} does not exist")


def _in_use(type_name: str, message: str) -> errors.NeutronError:
    return errors.typed(errors.Conflict, type_name, message)


# -- the project's default group ---------------------------------------------------------


def default_group_id(conn: sa.Connection | UnitOfWork, project_id: str) -> str | None:
    stmt = group.statement(
        "default_id",
        lambda: sa.select(default_security_groups.c.security_group_id).where(
            default_security_groups.c.project_id == sa.bindparam("project_id")
        ),
    )
    row = conn.execute(stmt, {"project_id": project_id}).first()
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
                "name": "default",
                "description": DEFAULT_DESCRIPTION,
                "project_id": project_id,
                "stateful": True,
                "tags": [],
            }
            crud.create_many(uow, group, _Internal(project_id), [item])
            found = sg_id
    uow.cache[key] = found
    assert found is not None
    return found


def default_needed(conn: sa.Connection, ctx: Context) -> Any:
    """Neutron makes the caller's default group before it lists groups or rules."""
    if not ctx.project_id or default_group_id(conn, ctx.project_id) is not None:
        return None
    project = ctx.project_id
    return lambda uow: ensure_default(uow, project)


class _Internal(Context):
    """The system acting for a project (making its default group)."""

    def __init__(self, project_id: str) -> None:
        super().__init__(project_id, frozenset({"admin"}))


def groups_of_project(uow: UnitOfWork, ctx: Context, project_id: str, ids: list[str]) -> list[str]:
    """Check that every group in `ids` exists and belongs to `project_id` (Neutron: a port
    may only use its own project's groups); 404 SecurityGroupNotFound names the others."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    t = group.table
    stmt = group.statement(
        "owned",
        lambda: sa.select(t.c.id).where(
            t.c.id.in_(sa.bindparam("ids", expanding=True)),
            t.c.project_id == sa.bindparam("project_id"),
        ),
    )
    found = {r[0] for r in uow.execute(stmt, {"ids": wanted, "project_id": project_id})}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise _not_found("security_group", ", ".join(missing))
    return wanted


def bind_ports(
    uow: UnitOfWork, bindings: list[tuple[str, list[str]]], *, new: bool = False
) -> None:
    """Record which groups each port is in, replacing what it had (`new`: nothing)."""
    ports = [p for p, _ in bindings]
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
    rows = [{"port_id": p, "security_group_id": g} for p, groups in bindings for g in groups]
    if rows:
        uow.execute(group.statement("bind", port_security_groups.insert), rows)


# -- rules -------------------------------------------------------------------------------


def protocol_number(protocol: str | None) -> int | None:
    """A stored protocol ('tcp', '6', None) as its IANA number (None = any)."""
    if protocol is None:
        return None
    return PROTOCOLS[protocol] if protocol in PROTOCOLS else int(protocol)


def canonical_protocol(value: str | None, ethertype: str) -> str | None:
    """Neutron's protocol conversion: a known name (lower case) or a number 0-255 as text;
    'any' means any; legacy IPv6 ICMP spellings become 'ipv6-icmp' / '58'."""
    if value is None or value.lower() == "any":
        return None
    text = value.lower()
    if text.isdigit() and 0 <= int(text) <= 255:
        text = str(int(text))
    elif text not in PROTOCOLS:
        raise errors.typed(
            errors.BadRequest,
            "SecurityGroupRuleInvalidProtocol",
            f"Security group rule protocol {value} not supported. Only protocol values "
            f"{sorted(PROTOCOLS)} and integer representations [0 to 255] are supported.",
        )
    if ethertype == "IPv6":
        if text in ("icmp", "icmpv6"):
            text = "ipv6-icmp"
        elif text == "1":
            text = "58"
    return text


def _check_ports(item: dict[str, Any]) -> None:
    lo, hi = item.get("port_range_min"), item.get("port_range_max")
    if lo is None and hi is None:
        return
    number = protocol_number(item.get("protocol"))
    if number is None:
        raise errors.typed(
            errors.BadRequest,
            "SecurityGroupProtocolRequiredWithPorts",
            "Must also specify protocol if port range is given.",
        )
    if number in PORT_PROTOCOLS:
        if lo == 0 or hi == 0:
            raise errors.typed(
                errors.BadRequest, "SecurityGroupInvalidPortValue", "Invalid value for port 0"
            )
        if lo is None or hi is None or lo > hi:
            raise errors.typed(
                errors.BadRequest,
                "SecurityGroupInvalidPortRange",
                "For TCP/UDP protocols, port_range_min must be <= port_range_max",
            )
    elif number in ICMP_PROTOCOLS:
        for value, attr, field in ((lo, "port_range_min", "type"), (hi, "port_range_max", "code")):
            if value is not None and not 0 <= value <= 255:
                raise errors.typed(
                    errors.BadRequest,
                    "SecurityGroupInvalidIcmpValue",
                    f"Invalid value for ICMP {field} ({attr}) {value}. It must be 0 to 255.",
                )
        if lo is None and hi is not None:
            raise errors.typed(
                errors.BadRequest,
                "SecurityGroupMissingIcmpType",
                f"ICMP code (port-range-max) {hi} is provided but ICMP type "
                "(port-range-min) is missing.",
            )
    else:
        raise errors.typed(
            errors.BadRequest,
            "SecurityGroupInvalidProtocolForPort",
            f"Invalid protocol {item['protocol']} for port range, only supported for "
            "TCP, UDP, UDPLITE, SCTP and DCCP.",
        )


def _check_prefix(item: dict[str, Any]) -> None:
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
        raise errors.typed(
            errors.BadRequest,
            "SecurityGroupRuleParameterConflict",
            f"Conflicting value ethertype {item['ethertype']} for CIDR {prefix}",
        )
    if item.get("remote_group_id"):
        raise errors.typed(
            errors.BadRequest,
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
            "Only remote_ip_prefix or remote_group_id may be provided.",
        )


def fingerprint(item: dict[str, Any]) -> str:
    """What makes two rules the same rule (Neutron's duplicate key; 'any' prefixes and no
    prefix are equal, protocols compare by number)."""
    cidr = item.get("normalized_cidr")
    if cidr in ("0.0.0.0/0", "::/0"):
        cidr = None
    parts = (
        item["direction"],
        item["ethertype"],
        protocol_number(item.get("protocol")),
        item.get("port_range_min"),
        item.get("port_range_max"),
        item.get("remote_group_id"),
        cidr,
    )
    return "|".join("+" if p is None else str(p) for p in parts)


def check_rule(item: dict[str, Any]) -> None:
    """Validate and normalise one rule body in place (no database needed)."""
    item["protocol"] = canonical_protocol(item.get("protocol"), item["ethertype"])
    number = protocol_number(item["protocol"])
    if number in IPV6_ONLY_PROTOCOLS and item["ethertype"] == "IPv4":
        raise errors.typed(
            errors.BadRequest,
            "SecurityGroupEthertypeConflictWithProtocol",
            f"Invalid ethertype IPv4 for protocol {item['protocol']}.",
        )
    _check_ports(item)
    _check_prefix(item)
    item["fingerprint"] = fingerprint(item)


def default_rules(sg_id: str, project_id: str, is_default: bool) -> list[dict[str, Any]]:
    """Neutron's rules for a new group: egress anywhere (IPv4, IPv6); the default group also
    admits ingress from its own members."""
    out = []
    for ethertype in ("IPv4", "IPv6"):
        directions: list[tuple[str, str | None]] = [("egress", None)]
        if is_default:
            directions.insert(0, ("ingress", sg_id))
        for direction, remote in directions:
            item = {
                "security_group_id": sg_id,
                "project_id": project_id,
                "direction": direction,
                "ethertype": ethertype,
                "protocol": None,
                "port_range_min": None,
                "port_range_max": None,
                "remote_ip_prefix": None,
                "remote_group_id": remote,
                "description": "",
                "belongs_to_default_sg": is_default,
            }
            check_rule(item)
            out.append(item)
    return out


class GroupHooks(Hooks):
    """Default group on first need, reserved `default` name, in-use checks, rules inline."""

    def read_needs(self, conn: Any, ctx: Context) -> Any:
        return default_needed(conn, ctx)

    def before_create_many(
        self, uow: UnitOfWork, ctx: Context, items: list[dict[str, Any]]
    ) -> None:
        for item in items:
            if isinstance(ctx, _Internal):
                continue
            if item.get("name") == "default":
                raise _in_use(
                    "SecurityGroupDefaultAlreadyExists", "Default security group already exists."
                )
            ensure_default(uow, item["project_id"])

    def after_create(self, uow: UnitOfWork, ctx: Context, item: dict[str, Any]) -> None:
        rules = default_rules(item["id"], item["project_id"], isinstance(ctx, _Internal))
        crud.create_many(uow, rule, ctx, rules)

    def before_update(
        self, uow: UnitOfWork, ctx: Context, old: dict[str, Any], changes: dict[str, Any]
    ) -> None:
        renamed = changes.get("name", old["name"]) != old["name"]
        if renamed and old["name"] == "default":
            raise _in_use(
                "SecurityGroupCannotUpdateDefault", "Updating default security group not allowed."
            )
        if renamed and changes["name"] == "default":
            raise _in_use(
                "SecurityGroupDefaultAlreadyExists", "Default security group already exists."
            )
        if changes.get("stateful", old["stateful"]) != old["stateful"] and self._used(
            uow, old["id"]
        ):
            raise _in_use(
                "SecurityGroupInUse",
                f"Security Group {old['id']} in use, its stateful attribute cannot be "
                "changed while ports use it.",
            )

    def _used(self, uow: UnitOfWork, sg_id: str) -> bool:
        row = uow.execute(
            sa.select(port_security_groups.c.port_id)
            .where(port_security_groups.c.security_group_id == sg_id)
            .limit(1)
        ).first()
        return row is not None

    def before_delete(self, uow: UnitOfWork, ctx: Context, item: dict[str, Any]) -> None:
        if item["name"] == "default" and not ctx.is_admin:
            raise _in_use(
                "SecurityGroupCannotRemoveDefault",
                "Insufficient rights for removing default security group.",
            )
        if self._used(uow, item["id"]):
            raise _in_use("SecurityGroupInUse", f"Security Group {item['id']} in use.")
        t = rule.table
        for (rid,) in uow.execute(
            sa.select(t.c.id).where(
                sa.or_(t.c.security_group_id == item["id"], t.c.remote_group_id == item["id"])
            )
        ).all():
            crud.delete(uow, rule, _Internal(item["project_id"]), rid)
        uow.execute(
            default_security_groups.delete().where(
                default_security_groups.c.security_group_id == item["id"]
            )
        )

    def extend(self, conn: Any, ctx: Context, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        t = rule.table
        by_group: dict[str, list[dict[str, Any]]] = {it["id"]: [] for it in items}
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

    def change_scope(self, item: dict[str, Any]) -> tuple[str | None, str | None]:
        return None, None


class RuleHooks(Hooks):
    """Validation per protocol, one group and project per bulk, duplicates refused."""

    def visible(self, ctx: Context) -> sa.ColumnElement[bool]:
        t, g = rule.table, group.table
        return sa.or_(
            t.c.project_id == ctx.project_id,
            t.c.security_group_id.in_(sa.select(g.c.id).where(g.c.project_id == ctx.project_id)),
        )

    def read_needs(self, conn: Any, ctx: Context) -> Any:
        return default_needed(conn, ctx)

    def before_create_many(
        self, uow: UnitOfWork, ctx: Context, items: list[dict[str, Any]]
    ) -> None:
        if len({it["security_group_id"] for it in items}) > 1:
            raise errors.typed(
                errors.BadRequest,
                "SecurityGroupNotSingleGroupRules",
                "Only allowed to update rules for one security profile at a time",
            )
        sg = self._group(uow, ctx, items[0]["security_group_id"])
        for item in items:
            item["belongs_to_default_sg"] = sg["name"] == "default"
            if item.get("fingerprint") is None:
                check_rule(item)
        if len({it["project_id"] for it in items}) > 1:
            raise errors.typed(
                errors.BadRequest,
                "SecurityGroupRulesNotSingleTenant",
                "Multiple tenant_ids in bulk security group rule create not allowed",
            )
        remotes = {it["remote_group_id"] for it in items if it.get("remote_group_id")}
        remotes.discard(sg["id"])
        if remotes:
            groups_of_project(uow, ctx, sg["project_id"], sorted(remotes))
        seen: set[str] = set()
        for item in items:
            if item["fingerprint"] in seen:
                raise _in_use(
                    "DuplicateSecurityGroupRuleInPost", "Duplicate Security Group Rule in POST."
                )
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
            raise _in_use(
                "SecurityGroupRuleExists",
                f"Security group rule already exists. Rule id is {dup[0]}.",
            )

    def _group(self, uow: UnitOfWork, ctx: Context, sg_id: str) -> dict[str, Any]:
        try:
            return crud.fetch(uow, group, ctx, sg_id)
        except errors.NotFound:
            raise _not_found("security_group", sg_id) from None

    def change_scope(self, item: dict[str, Any]) -> tuple[str | None, str | None]:
        return None, None
