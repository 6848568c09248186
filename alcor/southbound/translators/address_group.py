"""Address groups: an address group is an address set like a remote security group's,
with one member, the group itself, holding its CIDRs (`build.address_group_members`).

Why no message of its own: the agent already follows the address set of every remote its
rules name (`alcor.sg.<id>`, fetched by `rpc.address_set`, matched by conjunctive flows with
one flow per member address), and ids are UUIDs, so a rule naming an address group sends that
group's id as its `remote_group_id` and the agent needs nothing new. A created or edited group
is one `AddressSetDelta` upserting its member on its subject, so the hosts admit a new address
without any port or rule being touched; a deleted group publishes nothing, since no rule names
it any more (its delete is refused while one does).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from alcor.southbound import build
from alcor.southbound.translate import GROUPS, Context, LogRow, Output, Render, Translator


def plan(changes: Sequence[LogRow], ctx: Context) -> Render:
    last = {r["resource_id"]: r for r in changes if r["op"] != "delete"}
    ctx.want(last, build.address_group_members)
    return functools.partial(_render, last, ctx)


def _render(last: dict[str, LogRow], ctx: Context, out: Output) -> None:
    found = ctx.rows(build.address_group_members)
    for gid, change in sorted(last.items()):
        member = found.get(gid)
        if member is not None:
            out.delta(GROUPS, gid, change).members.append(member)


TRANSLATOR = Translator("address_group", plan)
