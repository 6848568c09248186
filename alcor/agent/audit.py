"""What a host holds, as digests per kind (`alcor.southbound.protocol.digests`).

The agent reports these in its heartbeats; the server builds the same `HostModel` from intent
(the goal state, routers, neighbour tables and address sets the host should follow) and calls
the same function, so the two sides can only differ where the host's state does. Neighbour
tables and remote groups' address sets are the large kinds: their digests are recomputed only
when they changed since the last heartbeat (`NeighborSet.version`, `GroupState.version`), and
then only the entries whose objects changed are hashed again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf.message import Message

from alcor.agent.model import HostModel
from alcor.southbound.protocol import digests


def host_kinds(model: HostModel) -> dict[str, Mapping[str, Message]]:
    """The kinds a host's goal state carries whole, by kind then id."""
    return {
        "ports": model.ports,
        "networks": model.networks,
        "subnets": model.subnets,
        "security_groups": model.security.groups,
        "network_acls": model.acls.acls,
    }


def snapshot(model: HostModel) -> dict[str, dict[str, Message]]:
    """The host-state entries held before a resync the audit asked for (the model replaces
    an entry's object when it changes, so holding them keeps what they were)."""
    return {kind: dict(held) for kind, held in host_kinds(model).items()}


def _fields(msg: Message) -> dict[str, Any]:
    return {f.name: v for f, v in msg.ListFields() if f.name not in digests.VOLATILE}


def drift(before: dict[str, dict[str, Message]], model: HostModel) -> dict[str, dict[str, Any]]:
    """What a resync changed in the host-state kinds: the ids it added or removed, and for
    each entry it rewrote the fields that differed. That is what the host had lost or
    misapplied, which the digests alone cannot name."""
    out: dict[str, dict[str, Any]] = {}
    for kind, now in host_kinds(model).items():
        held = before.get(kind, {})
        changed = {}
        for key in sorted(set(now) & set(held)):
            if digests.entry_hash(held[key]) == digests.entry_hash(now[key]):
                continue
            old, new = _fields(held[key]), _fields(now[key])
            fields = sorted(n for n in old.keys() | new.keys() if old.get(n) != new.get(n))
            if fields:
                changed[key] = fields
        found = {
            "added": sorted(set(now) - set(held)),
            "removed": sorted(set(held) - set(now)),
            "changed": changed,
        }
        if any(found.values()):
            out[kind] = {name: ids for name, ids in found.items() if ids}
    return out


class Digester:
    """Digests of one model. Neighbour tables are cached per network by version, and within
    a changed table each entry's hash by the entry object (the model replaces an entry's
    object when it changes), so a delta to a 100k-entry table re-hashes one entry."""

    def __init__(self) -> None:
        self._tables: dict[str, tuple[int, int, int]] = {}  # network -> (version, sum, count)
        # network (or "sg:" + group) -> port -> (entry, its hash)
        self._entries: dict[str, dict[str, tuple[Message, int]]] = {}
        self._sets: tuple[int, str] = (-1, "")  # (GroupState.version, address sets' digest)

    def _table(self, key: str, scope: str, entries: Mapping[str, Message]) -> tuple[int, int]:
        held = self._entries.get(key, {})
        fresh: dict[str, tuple[Message, int]] = {}
        for pid, entry in entries.items():
            known = held.get(pid)
            if known is None or known[0] is not entry:
                known = (entry, digests.entry_hash(entry, scope))
            fresh[pid] = known
        self._entries[key] = fresh
        return digests.combine(h for _, h in fresh.values()), len(fresh)

    def _address_sets(self, model: HostModel) -> str:
        version = model.security.version
        if self._sets[0] != version:
            total, count = 0, 0
            members = model.security.members
            for key in [k for k in self._entries if k.startswith("sg:") and k[3:] not in members]:
                del self._entries[key]
            for gid, held in members.items():
                part, n = self._table("sg:" + gid, gid, held)
                total, count = total + part, count + n
            self._sets = (version, digests.text(digests.combine([total]), count))
        return self._sets[1]

    def __call__(self, model: HostModel) -> dict[str, str]:
        served = model.served_networks()
        self._tables = {n: v for n, v in self._tables.items() if n in served}
        self._entries = {
            n: v for n, v in self._entries.items() if n in served or n.startswith("sg:")
        }
        total, count = 0, 0
        for nid in sorted(served):
            table = model.tables.get(nid)
            if table is None:
                continue
            cached = self._tables.get(nid)
            if cached is None or cached[0] != table.version:
                cached = (table.version, *self._table(nid, nid, table.entries))
                self._tables[nid] = cached
            total, count = total + cached[1], count + cached[2]
        return {
            **{kind: digests.of(held.values()) for kind, held in host_kinds(model).items()},
            "routers": digests.of(model.routers.values()),
            "neighbors": digests.text(digests.combine([total]), count),
            "address_sets": self._address_sets(model),
        }
