"""What the bridge holds, by owner, and the smallest change that moves it to the desired state.

Two kinds of owners, two encodings, both diff-based and never a flush:

* Static pipeline, local ports, networks and security groups: `Flow` text, kept by cookie
  and by key, changed with `ovs-ofctl --bundle` (`add` / `delete_strict` lines); except the
  member-address flows of remote groups in a round that changes no other security-group
  owner (a member joining or leaving), which the same index diffs into flow_mods
  (`ofwire.member_add` / `member_delete`) streamed like the neighbour entries (`streamed`
  says why and when).
* Neighbour entries (two flows each, and 100k+ of them per network): kept per network as
  `NeighborSpec`s plus which entry holds each ARP IP and each L2 MAC; changes are encoded
  straight to OpenFlow flow_mods (`ofwire`, which says why not a bundle) and streamed while
  they are being computed, then fenced by a barrier. A network the host leaves goes with one
  non-strict delete per table (neighbour cookie kind + its VNI), not one delete per flow.

`resync(full, neighbors)` sends the whole desired set (both kinds, as text) to
`ovs-ofctl --bundle replace-flows`, which compares with the bridge and changes only what
differs: used at start and after a failure, so a restarted agent leaves right flows alone
(kill -9 invariant). The neighbour and member-address text and bytes encode the same flows,
so flows installed either way compare equal.

Keys are global within a kind: an owner never deletes a rule that another owner holds now
(keys are designed not to collide; this keeps a mistake from becoming an outage).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import NamedTuple

from alcor.agent import flows, ofwire, security
from alcor.agent.flows import Flow, NeighborSpec, delete_text
from alcor.agent.ofctl import Ofctl
from alcor.agent.ofwire import FlowStream, NeighborEncoder

log = logging.getLogger(__name__)

Key = tuple[int, int, str]
# (port id, spec or None when the entry has no flows any more)
SpecStream = Iterator[tuple[str, NeighborSpec | None]]
BATCH = 2048  # neighbour messages per socket write: ovs-vswitchd stages them meanwhile


class NeighborUpdate(NamedTuple):
    """A network's changed neighbour entries, computed lazily (`specs(None)` = all entries)."""

    vni: int
    tunnel_ofport: int
    port_ids: Iterable[str]
    specs: Callable[[Iterable[str] | None], SpecStream]
    idle_timeout: int = 0  # on-demand networks: remote entries expire unused (`ondemand`)


class NetworkNeighbors:
    """The neighbour flows this process installed for one network."""

    def __init__(self, vni: int, tunnel_ofport: int, idle_timeout: int = 0) -> None:
        self.vni = vni
        self.tunnel_ofport = tunnel_ofport
        self.idle_timeout = idle_timeout
        self.encoder = NeighborEncoder(vni, tunnel_ofport, idle_timeout)
        self.specs: dict[str, NeighborSpec] = {}
        self.arp: dict[bytes, str] = {}  # IPv4 -> port id holding its ARP answer
        self.l2: dict[bytes, str] = {}  # MAC -> port id holding its L2 flow
        self.routed: dict[bytes, str] = {}  # IPv4 -> port id holding its next-hop flow

    def __len__(self) -> int:
        return len(self.arp) + len(self.l2) + len(self.routed)

    def change(
        self, pid: str, new: NeighborSpec | None, xids: Iterator[int], out: list[bytes]
    ) -> None:
        """Append the flow_mods that turn `pid`'s flows into `new`'s; update the index."""
        old = self.specs.get(pid)
        if old == new:
            return
        enc = self.encoder
        arp, l2, routed = self.arp, self.l2, self.routed
        if old is not None:
            keep_ips = new.ips if new is not None else ()
            keep_macs = new.l2_macs if new is not None else ()
            for ip in old.ips:
                if ip not in keep_ips and arp.get(ip) == pid:
                    del arp[ip]
                    out.append(enc.arp_delete(next(xids), ip))
            keep_routed = keep_ips if new is not None and new.routed else ()
            for ip in old.ips if old.routed else ():
                if ip not in keep_routed and routed.get(ip) == pid:
                    del routed[ip]
                    out.append(enc.routed_delete(next(xids), ip))
            for mac in old.l2_macs:
                if mac not in keep_macs and l2.get(mac) == pid:
                    del l2[mac]
                    out.append(enc.l2_delete(next(xids), mac))
        if new is None:
            self.specs.pop(pid, None)
            return
        self.specs[pid] = new
        ck = new.cookie
        same_arp = old is not None and old.mac == new.mac and old.cookie == ck
        for ip in new.ips:
            if not (same_arp and arp.get(ip) == pid and old is not None and ip in old.ips):
                arp[ip] = pid
                out.append(enc.arp(next(xids), ck, ip, new.mac))
        if new.routed:
            held = old.ips if same_arp and old is not None and old.routed else ()
            for ip in new.ips:
                if not (ip in held and routed.get(ip) == pid):
                    routed[ip] = pid
                    out.append(enc.routed(next(xids), ck, ip, new.mac))
        if new.tunnel_ip:
            same_l2 = old is not None and old.tunnel_ip == new.tunnel_ip and old.cookie == ck
            for mac in new.l2_macs:
                if not (same_l2 and l2.get(mac) == pid and old is not None and mac in old.l2_macs):
                    l2[mac] = pid
                    out.append(enc.l2(next(xids), ck, mac, new.tunnel_ip))

    def record(self, pid: str, spec: NeighborSpec) -> None:
        """Note `spec` as installed (a resync put it there)."""
        self.specs[pid] = spec
        for ip in spec.ips:
            self.arp[ip] = pid
            if spec.routed:
                self.routed[ip] = pid
        if spec.tunnel_ip:
            for mac in spec.l2_macs:
                self.l2[mac] = pid

    def text(self) -> Iterator[str]:
        """Every installed flow as `ovs-ofctl` text (for a replace-flows resync)."""
        for spec in self.specs.values():
            for flow in flows.spec_flows(spec, self.vni, self.tunnel_ofport, self.idle_timeout):
                yield flow.text(spec.cookie)


class Reconciler:
    """Installed flows by owner, kept in step with the bridge."""

    def __init__(self, ofctl: Ofctl) -> None:
        self.ofctl = ofctl
        self.by_cookie: dict[int, set[Key]] = {}
        self.by_key: dict[Key, tuple[int, str]] = {}
        self.networks: dict[str, NetworkNeighbors] = {}
        self._flow_stream: FlowStream | None = None
        self.meters: set[int] = set()  # meters known to exist in the bridge
        self.neighbor_flows = 0  # installed neighbour flows (the index may run ahead mid-stream)
        self.last_apply_s = 0.0
        self.last_lines = 0

    def __len__(self) -> int:
        return len(self.by_key) + self.neighbor_flows

    @property
    def mgmt_path(self) -> str:
        target = self.ofctl.target
        return target[len("unix:") :] if target.startswith("unix:") else target

    # -- text owners -------------------------------------------------------------------------
    def _changes(
        self, updates: Mapping[int, Iterable[Flow]]
    ) -> tuple[list[Key], list[tuple[int, Flow]]]:
        """(keys to delete, (cookie, flow) to add) turning the installed owners in `updates`
        into their new flow lists."""
        deletes: list[Key] = []
        adds: list[tuple[int, Flow]] = []
        for ck, flow_list in updates.items():
            new = {f.key: f for f in flow_list}
            for key in self.by_cookie.get(ck, set()) - new.keys():
                held = self.by_key.get(key)
                if held is not None and held[0] == ck:
                    deletes.append(key)
            for key, flow in new.items():
                if self.by_key.get(key) != (ck, flow.text(ck)):
                    adds.append((ck, flow))
        return deletes, adds

    def diff(self, updates: Mapping[int, Iterable[Flow]]) -> list[str]:
        """Bundle lines turning the installed owners in `updates` into their new flow lists."""
        deletes, adds = self._changes(updates)
        return [delete_text(k) for k in deletes] + ["add " + f.text(ck) for ck, f in adds]

    def _member_messages(
        self, updates: Mapping[int, Iterable[Flow]], xids: Iterator[int]
    ) -> list[bytes]:
        """The same changes as `diff`, as flow_mods (member-address owners only)."""
        deletes, adds = self._changes(updates)
        out = [ofwire.member_delete(next(xids), k) for k in deletes]
        out.extend(ofwire.member_add(next(xids), ck, f) for ck, f in adds)
        return out

    @staticmethod
    def streamed(updates: Mapping[int, list[Flow]]) -> dict[int, list[Flow]]:
        """The owners of `updates` sent as flow_mods rather than in the bundle: the
        member-address flows of remote groups (`security.KIND_SET_MEMBER`), unless the round
        also recomputes other security-group owners (port rules, conj_id flows).

        Why: a member joining or leaving a remote group changes one or two of these flows,
        and the `ovs-ofctl` subprocess alone costs ~25 ms, most of a join's latency. Each of
        them is complete in itself (an address match carrying every conjunction that lists
        the address), so they need no bundle, for the reason neighbour entries need none
        (`ofwire`). A round that recomputes the rules or ports may also renumber conjunctions
        (`security.conj_ids`), and an id moved in the member flows before the port flows
        would briefly admit one group's members through another group's rules: such a round
        keeps every flow in one atomic bundle.
        """
        kinds = {flows.cookie_kind(ck) for ck in updates}
        if kinds & {security.KIND_SG_PORT, security.KIND_ADDRESS_SET}:
            return {}
        return {
            ck: fl
            for ck, fl in updates.items()
            if flows.cookie_kind(ck) == security.KIND_SET_MEMBER
        }

    def _commit(self, updates: Mapping[int, Iterable[Flow]]) -> None:
        for ck, flow_list in updates.items():
            new = {f.key: f.text(ck) for f in flow_list}
            for key in self.by_cookie.pop(ck, set()) - new.keys():
                held = self.by_key.get(key)
                if held is not None and held[0] == ck:
                    del self.by_key[key]
            for key, line in new.items():
                self.by_key[key] = (ck, line)
            if new:
                self.by_cookie[ck] = set(new)

    # -- neighbour owners --------------------------------------------------------------------
    def _neighbor_messages(
        self, updates: Mapping[str, NeighborUpdate | None], xids: Iterator[int]
    ) -> Iterator[list[bytes]]:
        """Flow_mods for the neighbour changes, in batches (computed as consumed).

        `None` for a network means the host no longer serves it: all its flows go.
        """
        out: list[bytes] = []
        for nid, update in updates.items():
            index = self.networks.get(nid)
            stale = index is not None and (
                update is None
                or index.vni != update.vni
                or index.tunnel_ofport != update.tunnel_ofport
                or index.idle_timeout != update.idle_timeout
            )
            if index is not None and stale:
                self._drop_network(nid, index, xids, out)
                index = None
            if update is None:
                continue
            if index is None:
                index = self.networks[nid] = NetworkNeighbors(
                    update.vni, update.tunnel_ofport, update.idle_timeout
                )
                specs = update.specs(None)  # a new index: every entry of the table
            else:
                specs = update.specs(update.port_ids)
            change = index.change
            for pid, spec in specs:
                change(pid, spec, xids, out)
                if len(out) >= BATCH:
                    yield out
                    out = []
        if out:
            yield out

    def _drop_network(
        self, nid: str, index: NetworkNeighbors, xids: Iterator[int], out: list[bytes]
    ) -> None:
        del self.networks[nid]
        if not len(index):
            return
        if any(other.vni == index.vni for other in self.networks.values()):
            for pid in list(index.specs):  # VNI shared (mid-move): delete exactly ours
                index.change(pid, None, xids, out)
            return
        for table in (flows.ARP_RESPONDER, flows.L2_FORWARD, flows.ROUTE_NEIGHBOR):
            out.append(index.encoder.delete_all(next(xids), table))

    async def _connected(self) -> FlowStream:
        """The flow_mod connection, kept open between rounds: opening one (connect, hello,
        ovs-vswitchd accepting it) was half of the ~1 ms that a join's flow_mods take on a
        quiet host, and 2-3 ms on a loaded one. After any failure it is replaced."""
        stream = self._flow_stream
        if stream is None or not stream.alive:
            await self.close()
            stream = FlowStream(self.mgmt_path)
            await stream.open()
            self._flow_stream = stream
        return stream

    async def close(self) -> None:
        """Close the flow_mod connection (the agent stops, or it failed)."""
        stream, self._flow_stream = self._flow_stream, None
        if stream is not None:
            await stream.close()

    async def _stream(self, batches: Iterable[list[bytes]]) -> int:
        """Stream flow_mod batches on one connection (so they apply in order), computing
        each batch while ovs-vswitchd installs the previous ones; return once a barrier says
        all are installed."""
        sent = 0
        start = time.monotonic()
        stream: FlowStream | None = None
        try:
            for batch in batches:
                if stream is None:
                    stream = await self._connected()
                await stream.add(batch)
                sent += len(batch)
            if stream is not None:
                await stream.fence()
                log.debug("flow_mods: %d installed in %.3f s", sent, time.monotonic() - start)
        except BaseException:
            await self.close()  # what it still holds is unknown: never reuse it
            raise
        return sent

    async def ensure_meters(self, meter_ids: Iterable[int], rate_pps: int) -> None:
        """Create the meters that flows about to be installed name (a flow naming a missing
        meter is refused). Meters outlive the agent, so `meters` starts from the bridge's
        own list (`ofctl.meters`) and they are never deleted: one per VIF number."""
        missing = sorted(set(meter_ids) - self.meters)
        if not missing:
            return
        xids = itertools.count(1)
        await self._stream([[ofwire.meter_add(next(xids), m, rate_pps) for m in missing]])
        self.meters.update(missing)

    # -- rounds ------------------------------------------------------------------------------
    async def apply(
        self,
        updates: Mapping[int, list[Flow]],
        neighbors: Mapping[str, NeighborUpdate | None] | None = None,
    ) -> int:
        """Install the changed owners; returns the number of bundle lines and flow_mods.

        Text owners go in one `ovs-ofctl` bundle; neighbour entries, and member-address
        flows when `streamed` allows, as one flow_mod stream; both at once. On failure the
        index may be ahead of the bridge: the caller resyncs.
        """
        members = self.streamed(updates)
        lines = self.diff({ck: fl for ck, fl in updates.items() if ck not in members})
        xids = itertools.count(1)
        member_mods = self._member_messages(members, xids) if members else []
        start = time.monotonic()

        async def text() -> int:
            if lines:
                await self.ofctl.bundle(lines)
                log.debug("bundle: %d lines in %.3f s", len(lines), time.monotonic() - start)
            return len(lines)

        def batches() -> Iterator[list[bytes]]:
            if member_mods:
                yield member_mods
            if neighbors:
                yield from self._neighbor_messages(neighbors, xids)

        async def binary() -> int:
            try:
                return await self._stream(batches())
            finally:
                self.neighbor_flows = sum(len(n) for n in self.networks.values())

        n_text, n_binary = await asyncio.gather(text(), binary())
        self._commit(updates)
        self.last_apply_s = time.monotonic() - start
        self.last_lines = n_text + n_binary
        return self.last_lines

    async def resync(
        self,
        full: Mapping[int, list[Flow]],
        neighbors: Mapping[str, NeighborUpdate] | None = None,
    ) -> None:
        """Make the bridge hold exactly `full` plus `neighbors` (every other flow is removed)."""
        self.networks = {}
        for nid, update in (neighbors or {}).items():
            index = self.networks[nid] = NetworkNeighbors(
                update.vni, update.tunnel_ofport, update.idle_timeout
            )
            for pid, spec in update.specs(None):
                if spec is not None:
                    index.record(pid, spec)
        lines = [f.text(ck) for ck, flow_list in full.items() for f in flow_list]
        for index in self.networks.values():
            lines.extend(index.text())
        start = time.monotonic()
        try:
            await self.ofctl.replace(lines)
        except BaseException:
            self.networks = {}
            self.neighbor_flows = 0
            raise
        self.by_cookie = {}
        self.by_key = {}
        self._commit(full)
        self.neighbor_flows = sum(len(n) for n in self.networks.values())
        self.last_apply_s = time.monotonic() - start
        self.last_lines = len(lines)
