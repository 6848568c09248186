"""Security groups and their rules: a changed group goes to the hosts that hold a port in it.

A host holds a group's `SecurityGroupState` (every rule, stateful) because one of its ports is
in the group; the port translator sends it with the port. Here a change of the group itself or
of one of its rules re-renders the whole group, once per batch, into the HostDelta of exactly
those hosts (`build.hosts_in_groups`, on the membership table). Rules naming a remote group do
not expand its members: hosts follow that group's address set on its own subject.

A group delete goes nowhere: a group in use by a port cannot be deleted, and a host forgets a
group with its last port in it. A deleted rule's row is gone and its change-log row does not
name its group, so a rule delete re-renders every group of the rule's project that hosts hold
(a rule's project is its group's): more hosts than the one group's, never a host too few.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from alcor.southbound import build
from alcor.southbound.translate import HOSTS, Context, LogRow, Output, Render, Translator


def _send(changed: dict[str, LogRow], ctx: Context, out: Output) -> None:
    """Each changed group's current state to every host with a port in it."""
    ctx.want(changed, build.load_groups, build.hosts_in_groups)
    groups = ctx.rows(build.load_groups)
    hosts = ctx.rows(build.hosts_in_groups)
    for gid, change in sorted(changed.items()):
        state = groups.get(gid)
        if state is None:
            continue
        for h in sorted(hosts.get(gid) or ()):
            held = out.delta(HOSTS, h, change).security_groups
            if all(g.id != gid for g in held):  # the port translator may have sent it already
                held.append(state)


def plan_groups(changes: Sequence[LogRow], ctx: Context) -> Render:
    changed = {r["resource_id"]: r for r in changes if r["op"] != "delete"}
    ctx.want(changed, build.load_groups, build.hosts_in_groups)
    return functools.partial(_send, changed, ctx)


def plan_rules(changes: Sequence[LogRow], ctx: Context) -> Render:
    last = {r["resource_id"]: r for r in changes}
    ctx.rows(build.rule_groups).want(last)
    ctx.rows(build.project_groups).want(
        r["project_id"] for r in last.values() if r["op"] == "delete" and r["project_id"]
    )
    return functools.partial(_render_rules, last, ctx)


def _render_rules(last: dict[str, LogRow], ctx: Context, out: Output) -> None:
    owner = ctx.rows(build.rule_groups)
    projects = ctx.rows(build.project_groups)
    changed: dict[str, LogRow] = {}
    for rid, change in last.items():
        gid = owner.get(rid)
        if gid is not None:
            changed[gid] = change
        elif change["op"] == "delete" and change["project_id"]:
            for gid in projects.get(change["project_id"]) or ():
                changed[gid] = change
    _send(changed, ctx, out)


TRANSLATORS = (
    Translator("security_group", plan_groups),
    Translator("security_group_rule", plan_rules),
)
