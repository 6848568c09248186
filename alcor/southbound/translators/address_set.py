"""Address sets: a port joining or leaving a security group, or changing its addresses, is ONE
small AddressSetDelta on that group's subject (DESIGN §2: membership travels as address sets,
never as rules expanded per member or recomputed per host).

Hosts whose groups have a rule with `remote_group_id` = G follow G's subject and fetch its full
set by RPC (`build.address_set`); nothing here depends on who listens, so a join costs one
message per group of the port whatever the number of hosts or rules that name the group.

The change log says that a port changed, not which groups it left nor whether its addresses
moved. So the translator diffs each changed port's groups and addresses (`build.member_ips`)
against what it last published (`address_set_members`, rewritten when the compiler advances)
and publishes only the differences: renaming a port publishes nothing here.
A group's set holds its *bound* members: an unbound port sends nothing, so its addresses
admit nothing yet; it joins the set when it is bound (and leaves when unbound). This keeps
the creation of unbound ports (Nova's first step, and bulk creates) free of southbound work:
nothing to publish, so no compiler write per create.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from alcor.southbound import build
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.translate import GROUPS, Context, LogRow, Output, Render, Translator
from alcor.store import prepared
from alcor.store.db import UnitOfWork
from alcor.store.prepared import SelectIn
from alcor.store.schema import address_set_members as published_t

Members = dict[str, list[str]]  # group id -> the port's addresses in that group's set
_PUBLISHED = SelectIn(sa.select(published_t), published_t.c.port_id)
_FORGET = SelectIn(published_t.delete(), published_t.c.port_id)
_INSERT = prepared.hot(published_t.insert())


def published(conn: sa.Connection, port_ids: Iterable[str]) -> dict[str, Members]:
    """port id -> what was last published for it, per group."""
    out: dict[str, Members] = {}
    for r in build.rows_in(conn, _PUBLISHED, port_ids):
        out.setdefault(r["port_id"], {})[r["security_group_id"]] = list(r["ips"])
    return out


def _remember(now: dict[str, Members], uow: UnitOfWork) -> None:
    _FORGET.run(uow.conn, now)
    rows = [
        {"port_id": pid, "security_group_id": gid, "ips": ips}
        for pid, groups in now.items()
        for gid, ips in groups.items()
    ]
    if rows:
        uow.execute(_INSERT, rows)


def plan(changes: Sequence[LogRow], ctx: Context) -> Render:
    last: dict[str, LogRow] = {}
    for r in changes:
        if r["op"] == "create" and not r["host_id"]:
            continue  # an unbound new port is in no set: nothing to load, nothing to publish
        last[r["resource_id"]] = r
    ctx.want(last, build.load_ports, published)
    return functools.partial(_render, last, ctx)


def _render(last: dict[str, LogRow], ctx: Context, out: Output) -> None:
    ports = ctx.rows(build.load_ports)
    before = ctx.rows(published)
    changed: dict[str, Members] = {}
    for pid, change in last.items():
        cur = ports.get(pid)
        had = before.get(pid) or {}
        now: Members = {}
        revision = cur["revision_number"] if cur is not None else change["revision"]
        if cur is not None and cur["binding_host_id"]:
            ips = build.member_ips(cur)
            now = {gid: ips for gid in cur["security_groups"] or ()}
        if now == had:
            continue
        changed[pid] = now
        for gid, ips in sorted(now.items()):
            if had.get(gid) != ips:
                member = pb.AddressSetMember(port_id=pid, op=pb.UPSERT, revision=revision, ips=ips)
                out.delta(GROUPS, gid, change).members.append(member)
        for gid in sorted(had.keys() - now.keys()):
            member = pb.AddressSetMember(port_id=pid, op=pb.DELETE, revision=revision)
            out.delta(GROUPS, gid, change).members.append(member)
    if changed:
        out.records.append(functools.partial(_remember, changed))


TRANSLATOR = Translator("port", plan)
