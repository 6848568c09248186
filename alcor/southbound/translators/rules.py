"""Parents of rules (security groups, network ACLs): a parent's state goes whole to the hosts
that hold it, and a rule change re-renders its parent, once per batch.

Shared because both kinds are held and logged alike: a host holds a parent for its ports and
gets it whole, and rules log no scope, so the parent is found from the rule's row. A deleted
rule's row is gone and its change-log row does not name its parent, so a rule delete
re-renders every parent of the rule's project (a rule's project is its parent's): more hosts
than the one parent's, never a host too few.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.translate import HOSTS, Context, LogRow, Output, Render

Send = Callable[[dict[str, LogRow], Context, Output], None]  # changed parent id -> its log row


def sender(
    load: Callable[[sa.Connection, Iterable[str]], Mapping[str, Any]],
    hosts: Callable[[sa.Connection, Iterable[str]], Mapping[str, set[str]]],
    held: Callable[[pb.HostDelta], Any],
) -> Send:
    """Send each changed parent's current state (`load`) to every host that holds it
    (`hosts`), in the HostDelta's repeated field `held`."""

    def send(changed: dict[str, LogRow], ctx: Context, out: Output) -> None:
        ctx.want(changed, load, hosts)
        states = ctx.rows(load)
        where = ctx.rows(hosts)
        for pid, change in sorted(changed.items()):
            state = states.get(pid)
            if state is None:
                continue
            for h in sorted(where.get(pid) or ()):
                carried = held(out.delta(HOSTS, h, change))
                if all(s.id != pid for s in carried):  # the port translator may have sent it
                    carried.append(state)

    return send


def planner(
    parents: Callable[[sa.Connection, Iterable[str]], Mapping[str, str]],
    projects: Callable[[sa.Connection, Iterable[str]], Mapping[str, list[str]]],
    send: Send,
) -> Callable[[Sequence[LogRow], Context], Render]:
    """The `plan` of a rule kind: `parents` maps rule ids to their parent, `projects` project
    ids to their parents' ids, `send` renders the changed parents."""

    def plan(changes: Sequence[LogRow], ctx: Context) -> Render:
        last = {r["resource_id"]: r for r in changes}
        ctx.rows(parents).want(last)
        ctx.rows(projects).want(
            r["project_id"] for r in last.values() if r["op"] == "delete" and r["project_id"]
        )
        return functools.partial(render, last, ctx)

    def render(last: dict[str, LogRow], ctx: Context, out: Output) -> None:
        owner = ctx.rows(parents)
        by_project = ctx.rows(projects)
        changed: dict[str, LogRow] = {}
        for rid, change in last.items():
            parent = owner.get(rid)
            if parent is not None:
                changed[parent] = change
            elif change["op"] == "delete" and change["project_id"]:
                for parent in by_project.get(change["project_id"]) or ():
                    changed[parent] = change
        send(changed, ctx, out)

    return plan
