"""A minimal stand-in for the controller's southbound side, on a real NATS server.

It holds networks, subnets and ports in memory, publishes HostDelta / NeighborDelta with the
seq/prev_seq chain of goalstate.proto, answers the register, host-state and (chunked)
neighbour-table RPCs, and records the agents' status reports. It runs its own asyncio loop
in a thread so that synchronous code can drive it. The end-to-end tests drive the real
`alcor server` now; this double stays for benchmark part (b), which feeds one agent
synthetic neighbour tables far larger than any API-created network (moved here from
tests/e2e/controller.py).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import Any

import nats
import nats.aio.client
import nats.aio.msg

from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.protocol import subjects


class ControllerStandIn:
    """Controller double: `add_port`, `delete_port`, ... publish real protobuf deltas."""

    def __init__(self, nats_url: str, chunk_size: int = 5000) -> None:
        self.nats_url = nats_url
        self.chunk_size = chunk_size
        self.networks: dict[str, pb.NetworkState] = {}
        self.subnets: dict[str, pb.SubnetState] = {}
        self.ports: dict[str, pb.PortState] = {}
        self.tunnel_ips: dict[str, str] = {}
        self.seq = 0
        self.last: dict[str, int] = {}
        self.statuses: list[tuple[str, pb.ResourceStatus]] = []
        self.heartbeats: dict[str, pb.Heartbeat] = {}
        self.registrations: list[pb.AgentInfo] = []
        self.rpc_counts: dict[str, int] = {"host_state": 0, "neighbors": 0}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.nc: nats.aio.client.Client = nats.aio.client.Client()
        self.lock = threading.Lock()

    # -- plumbing ----------------------------------------------------------------------------
    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> ControllerStandIn:
        self.thread.start()
        self.call(self._start())
        return self

    async def _start(self) -> None:
        self.nc = await nats.connect(
            self.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.2
        )
        await self.nc.subscribe(subjects.every(subjects.RPC_REGISTER), cb=self._on_register)
        await self.nc.subscribe(subjects.every(subjects.RPC_HOST_STATE), cb=self._on_host_state)
        await self.nc.subscribe(subjects.RPC_NEIGHBORS, cb=self._on_neighbors)
        await self.nc.subscribe(subjects.every(subjects.STATUS), cb=self._on_status)
        await self.nc.subscribe(subjects.every(subjects.HEARTBEAT), cb=self._on_heartbeat)

    def stop(self) -> None:
        self.call(self.nc.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def _next(self, subject: str) -> tuple[int, int]:
        self.seq += 1
        prev = self.last.get(subject, 0)
        self.last[subject] = self.seq
        return self.seq, prev

    # -- RPCs --------------------------------------------------------------------------------
    async def _on_register(self, msg: nats.aio.msg.Msg) -> None:
        info = pb.AgentInfo.FromString(msg.data)
        self.registrations.append(info)
        self.tunnel_ips[info.host_id] = info.tunnel_ip
        await msg.respond(pb.RegisterReply(ok=True, heartbeat_interval_ms=1000).SerializeToString())

    def host_state(self, host_id: str) -> pb.HostGoalState:
        ports = [p for p in self.ports.values() if p.host_id == host_id]
        nets = {p.network_id for p in ports}
        subject = subjects.host(host_id)
        return pb.HostGoalState(
            host_id=host_id,
            seq=self.last.get(subject, 0),
            ports=ports,
            networks=[self.networks[n] for n in nets],
            subnets=[s for s in self.subnets.values() if s.network_id in nets],
            network_seqs={n: self.last.get(subjects.network(n), 0) for n in nets},
        )

    async def _on_host_state(self, msg: nats.aio.msg.Msg) -> None:
        self.rpc_counts["host_state"] += 1
        req = pb.HostStateRequest.FromString(msg.data)
        await msg.respond(self.host_state(req.host_id).SerializeToString())

    def neighbor(self, port: pb.PortState, op: pb.Op = pb.UPSERT) -> pb.NeighborState:
        return pb.NeighborState(
            port_id=port.id,
            op=op,
            revision=port.revision,
            network_id=port.network_id,
            mac_address=port.mac_address,
            fixed_ips=port.fixed_ips,
            host_id=port.host_id,
            tunnel_ip=self.tunnel_ips.get(port.host_id, ""),
            allowed_address_pairs=port.allowed_address_pairs,
        )

    async def _on_neighbors(self, msg: nats.aio.msg.Msg) -> None:
        self.rpc_counts["neighbors"] += 1
        req = pb.NeighborTableRequest.FromString(msg.data)
        entries = [self.neighbor(p) for p in self.ports.values() if p.network_id == req.network_id]
        seq = self.last.get(subjects.network(req.network_id), 0)
        parts = [entries[i : i + self.chunk_size] for i in range(0, len(entries), self.chunk_size)]
        parts = parts or [[]]
        for i, part in enumerate(parts):
            table = pb.NeighborTable(
                network_id=req.network_id, seq=seq, neighbors=part, chunk=i, chunks=len(parts)
            )
            await self.nc.publish(msg.reply, table.SerializeToString())

    async def _on_status(self, msg: nats.aio.msg.Msg) -> None:
        report = pb.StatusReport.FromString(msg.data)
        with self.lock:
            self.statuses.extend((report.host_id, s) for s in report.statuses)

    async def _on_heartbeat(self, msg: nats.aio.msg.Msg) -> None:
        beat = pb.Heartbeat.FromString(msg.data)
        self.heartbeats[beat.host_id] = beat

    # -- intent ------------------------------------------------------------------------------
    def add_network(
        self,
        net_id: str,
        vni: int,
        cidr: str,
        gateway: str = "",
        dns: list[str] | None = None,
        routes: list[tuple[str, str]] | None = None,
        domain: str = "",
        mtu: int = 1450,
    ) -> None:
        self.networks[net_id] = pb.NetworkState(
            id=net_id,
            revision=1,
            network_type="vxlan",
            vni=vni,
            mtu=mtu,
            port_security_enabled=True,
        )
        self.subnets[f"{net_id}-v4"] = pb.SubnetState(
            id=f"{net_id}-v4",
            revision=1,
            network_id=net_id,
            ip_version=4,
            cidr=cidr,
            gateway_ip=gateway,
            enable_dhcp=True,
            dns_nameservers=dns or [],
            host_routes=[pb.HostRoute(destination=d, nexthop=n) for d, n in routes or []],
            dns_domain=domain,
        )

    def add_port(
        self, port_id: str, host_id: str, net_id: str, ip: str, mac: str, publish: bool = True
    ) -> pb.PortState:
        port = pb.PortState(
            id=port_id,
            revision=1,
            network_id=net_id,
            mac_address=mac,
            fixed_ips=[pb.FixedIp(subnet_id=f"{net_id}-v4", ip_address=ip)],
            admin_state_up=True,
            port_security_enabled=True,
            host_id=host_id,
            device_owner="compute:nova",
        )
        self.ports[port_id] = port
        if publish:
            self.call(self._publish_port(port, pb.UPSERT))
        return port

    def delete_port(self, port_id: str) -> None:
        port = self.ports.pop(port_id)
        gone = pb.PortState()
        gone.CopyFrom(port)
        gone.op = pb.DELETE
        gone.revision = port.revision + 1
        self.call(self._publish_port(gone, pb.DELETE))

    async def _publish_port(self, port: pb.PortState, op: pb.Op) -> None:
        host_subject = subjects.host(port.host_id)
        seq, prev = self._next(host_subject)
        delta = pb.HostDelta(
            host_id=port.host_id, seq=seq, prev_seq=prev, ports=[port], published_at=time.time()
        )
        if op == pb.UPSERT:
            delta.networks.append(self.networks[port.network_id])
            delta.subnets.extend(
                s for s in self.subnets.values() if s.network_id == port.network_id
            )
        await self.nc.publish(host_subject, delta.SerializeToString())
        await self.publish_neighbors(port.network_id, [self.neighbor(port, op)])

    async def publish_neighbors(self, net_id: str, entries: list[pb.NeighborState]) -> None:
        subject = subjects.network(net_id)
        seq, prev = self._next(subject)
        delta = pb.NeighborDelta(
            network_id=net_id, seq=seq, prev_seq=prev, neighbors=entries, published_at=time.time()
        )
        await self.nc.publish(subject, delta.SerializeToString())
        await self.nc.flush()

    # -- observations ------------------------------------------------------------------------
    def port_states(self, port_id: str) -> list[pb.ResourceStatus]:
        with self.lock:
            return [s for _, s in self.statuses if s.id == port_id]

    def wait_state(self, port_id: str, state: int, timeout: float = 20.0) -> pb.ResourceStatus:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.port_states(port_id)
            if states and states[-1].state == state:
                return states[-1]
            time.sleep(0.05)
        raise AssertionError(
            f"port {port_id} never reached {pb.ProgramState.Name(state)}: "
            f"{[pb.ProgramState.Name(s.state) for s in self.port_states(port_id)]}"
        )
