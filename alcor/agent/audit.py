"""What a host holds, as digests per kind (`alcor.southbound.protocol.digests`).

The agent reports these in its heartbeats; the server builds the same `HostModel` from intent
(the goal state, routers, neighbour tables and address sets the host should follow) and calls
the same function, so the two sides can only differ where the host's state does. Neighbour
tables are the one large kind: their digest is kept per network and recomputed only for
tables that changed since the last heartbeat (`NeighborSet.version`).
"""

from __future__ import annotations

from alcor.agent.model import HostModel
from alcor.southbound.protocol import digests


class Digester:
    """Digests of one model, with the per-network neighbour digests cached by version."""

    def __init__(self) -> None:
        self._tables: dict[str, tuple[int, int, int]] = {}  # network -> (version, sum, count)

    def __call__(self, model: HostModel) -> dict[str, str]:
        served = model.served_networks()
        self._tables = {n: v for n, v in self._tables.items() if n in served}
        total, count = 0, 0
        for nid in sorted(served):
            table = model.tables.get(nid)
            if table is None:
                continue
            cached = self._tables.get(nid)
            if cached is None or cached[0] != table.version:
                hashes = [digests.entry_hash(e, nid) for e in table.entries.values()]
                cached = (table.version, digests.combine(hashes), len(hashes))
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
