"""The state audit: does each host hold what intent says it should?

Every agent reports digests of what it holds (`alcor.agent.audit`, in its heartbeats, once it
is in step with every subject it follows). Here the server builds, from the database, the
state that host should hold: its goal state, then exactly what the agent's own model would
follow from it (its routers, the neighbour tables of the networks it serves, the address sets
of the remote groups its rules name), and digests it with the agent's very code: `HostModel`
and `Digester` are pure, and using them is what keeps "what the host should follow" defined
once. A host whose digests differ for a kind has lost or misapplied something there.

A report can be older than a change that is still on its way; `audit` therefore only judges
reports made after the newest change-log commit that touched anything (else the host is
`pending`), and the resync loop acts on a host only when two consecutive reports of it differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import sqlalchemy as sa

from alcor.agent.audit import Digester
from alcor.agent.model import HostModel
from alcor.southbound import build
from alcor.southbound.protocol import digests
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.store.schema import changelog, hosts

IN_STEP = "in_step"
DIFFERS = "differs"
PENDING = "pending"  # changes newer than its last report: not judged yet
UNREPORTED = "unreported"  # no digest yet (a simulated host, an older agent, mid-resync)
DEAD = "dead"


class HostAudit(NamedTuple):
    host_id: str
    state: str
    differs: tuple[str, ...]  # kinds whose digests differ
    reported_at: float | None
    reported: dict[str, str]
    expected: dict[str, str]


def expected_digests(conn: sa.Connection, host_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """What each host should report, from the database."""
    out: dict[str, dict[str, str]] = {}
    for host_id, state in build.host_goal_states(conn, host_ids).items():
        model = HostModel(host_id)
        model.replace_host_state(state, 0.0)
        for rid, router in build.load_routers(conn, model.wanted_routers()).items():
            model.apply_router(pb.RouterDelta(router_id=rid, routers=[router]))
        for nid in sorted(model.served_networks()):
            model.replace_table(build.neighbor_table(conn, nid))
        for gid in sorted(model.security.wanted()):
            model.replace_address_set(build.address_set(conn, gid))
        out[host_id] = Digester()(model)
    return out


def audit(
    conn: sa.Connection, now: float, down_time: float, host_ids: Iterable[str] | None = None
) -> list[HostAudit]:
    """Every (or the given) registered host's audit, ordered by host id."""
    stmt = sa.select(hosts.c.host_id, hosts.c.heartbeat_at, hosts.c.digests, hosts.c.digested_at)
    if host_ids is not None:
        stmt = stmt.where(hosts.c.host_id.in_(sorted(set(host_ids))))
    rows = list(conn.execute(stmt.order_by(hosts.c.host_id)).mappings())
    newest = conn.execute(sa.select(sa.func.max(changelog.c.committed_at))).scalar() or 0.0
    judged = [
        r["host_id"] for r in rows if r["digests"] and (r["heartbeat_at"] or 0) >= now - down_time
    ]
    expected = expected_digests(conn, judged)
    out = []
    for r in rows:
        reported = dict(r["digests"] or {})
        want = expected.get(r["host_id"], {})
        differs = tuple(k for k in digests.KINDS if reported.get(k) != want.get(k))
        if (r["heartbeat_at"] or 0) < now - down_time:
            state = DEAD
        elif not reported:
            state = UNREPORTED
        elif not differs:
            state = IN_STEP
        elif (r["digested_at"] or 0) <= newest:
            state = PENDING
        else:
            state = DIFFERS
        out.append(HostAudit(r["host_id"], state, differs, r["digested_at"], reported, want))
    return out
