"""Security groups and their rules: a changed group goes to the hosts that hold a port in it.

A host holds a group's `SecurityGroupState` (every rule, stateful) because one of its ports is
in the group; the port translator sends it with the port. Here a change of the group itself or
of one of its rules re-renders the whole group, once per batch, into the HostDelta of exactly
those hosts (`build.hosts_in_groups`, on the membership table). Rules naming a remote group do
not expand its members: hosts follow that group's address set on its own subject.

A group delete goes nowhere: a group in use by a port cannot be deleted, and a host forgets a
group with its last port in it. A rule's change-log row names its group (`parent_id`), a
deleted rule's too, so a rule delete reaches exactly the group's hosts.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from alcor.southbound import build
from alcor.southbound.translate import Context, LogRow, Render, Translator
from alcor.southbound.translators import rules

_send = rules.sender(build.load_groups, build.hosts_in_groups, lambda d: d.security_groups)


def plan_groups(changes: Sequence[LogRow], ctx: Context) -> Render:
    changed = {r["resource_id"]: r for r in changes if r["op"] != "delete"}
    ctx.want(changed, build.load_groups, build.hosts_in_groups)
    return functools.partial(_send, changed, ctx)


TRANSLATORS = (
    Translator("security_group", plan_groups),
    Translator("security_group_rule", rules.planner(_send)),
)
