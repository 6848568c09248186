"""Parents of rules (security groups, network ACLs): a parent's state goes whole to the hosts
that hold it, and a rule change re-renders its parent, once per batch.

Shared because both kinds are held and logged alike: a host holds a parent for its ports and
gets it whole. A rule's change-log row names its parent (`parent_id`, from the declared
`parent` reference), deleted rules included, so a rule change reaches exactly the hosts that
hold its group or ACL.
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
        # Hosts first: a parent no host holds (a group nobody's bound port is in yet, while its
        # rules are being written one by one) is not loaded at all, rules and all.
        ctx.want(changed, hosts)
        where = ctx.rows(hosts)
        holders = {pid: hs for pid in changed if (hs := where.get(pid))}
        ctx.want(holders, load)
        states = ctx.rows(load)
        for pid, change in sorted(changed.items()):
            state = states.get(pid) if pid in holders else None
            if state is None:
                continue
            for h in sorted(holders[pid]):
                carried = held(out.delta(HOSTS, h, change))
                if all(s.id != pid for s in carried):  # the port translator may have sent it
                    carried.append(state)

    return send


def planner(send: Send) -> Callable[[Sequence[LogRow], Context], Render]:
    """The `plan` of a rule kind: `send` renders the changed parents."""

    def plan(changes: Sequence[LogRow], ctx: Context) -> Render:
        changed = {r["parent_id"]: r for r in changes if r["parent_id"]}
        return functools.partial(send, changed, ctx)

    return plan
