"""What a host holds, as digests per kind (`alcor.southbound.protocol.digests`).

The agent reports these in its heartbeats; the server builds the same `HostModel` from intent
(the goal state, routers, neighbour tables and address sets the host should follow) and calls
the same function, so the two sides can only differ where the host's state does. Neighbour
tables are the one large kind: their digest is kept per network and recomputed only for
tables that changed since the last heartbeat (`NeighborSet.version`).
"""

from __future__ import annotations

from collections.abc import Mapping

from alcor.agent.model import HostModel
from alcor.southbound.protocol import digests
from alcor.southbound.protocol import goalstate_pb2 as pb


class Digester:
    """Digests of one model. Neighbour tables are cached per network by version, and within
    a changed table each entry's hash by the entry object (the model replaces an entry's
    object when it changes), so a delta to a 100k-entry table re-hashes one entry."""

    def __init__(self) -> None:
        self._tables: dict[str, tuple[int, int, int]] = {}  # network -> (version, sum, count)
        self._entries: dict[str, dict[str, tuple[pb.NeighborState, int]]] = {}  # net -> port

    def _table(self, nid: str, entries: Mapping[str, pb.NeighborState]) -> tuple[int, int]:
        held = self._entries.get(nid, {})
        fresh: dict[str, tuple[pb.NeighborState, int]] = {}
        for pid, entry in entries.items():
            known = held.get(pid)
            if known is None or known[0] is not entry:
                known = (entry, digests.entry_hash(entry, nid))
            fresh[pid] = known
        self._entries[nid] = fresh
        return digests.combine(h for _, h in fresh.values()), len(fresh)

    def __call__(self, model: HostModel) -> dict[str, str]:
        served = model.served_networks()
        self._tables = {n: v for n, v in self._tables.items() if n in served}
        self._entries = {n: v for n, v in self._entries.items() if n in served}
        total, count = 0, 0
        for nid in sorted(served):
            table = model.tables.get(nid)
            if table is None:
                continue
            cached = self._tables.get(nid)
            if cached is None or cached[0] != table.version:
                cached = (table.version, *self._table(nid, table.entries))
                self._tables[nid] = cached
            total, count = total + cached[1], count + cached[2]
        members = [
            digests.entry_hash(m, gid)
            for gid, held in model.security.members.items()
            for m in held.values()
        ]
        return {
            "ports": digests.of(model.ports.values()),
            "networks": digests.of(model.networks.values()),
            "subnets": digests.of(model.subnets.values()),
            "security_groups": digests.of(model.security.groups.values()),
            "network_acls": digests.of(model.acls.acls.values()),
            "routers": digests.of(model.routers.values()),
            "neighbors": digests.text(digests.combine([total]), count),
            "address_sets": digests.text(digests.combine(members), len(members)),
        }
