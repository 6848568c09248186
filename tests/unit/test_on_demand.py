"""Neighbours on demand: the compiler's messages (real SQLite), the agent's model, flows and
OpenFlow bytes (checked against ovs-ofctl), and the miss classification."""

from __future__ import annotations

import asyncio
import re
import socket
import struct
import subprocess

import nats
import sqlalchemy as sa

from alcor.agent import flows, ofwire, ondemand, openflow_channel
from alcor.agent.model import HostModel
from alcor.agent.openflow_channel import OpenFlowChannel, parse_packet_in
from alcor.southbound import build
from alcor.southbound import ondemand as policy
from alcor.southbound.nats_server import running
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.protocol import subjects
from alcor.southbound.rpc import INLINE_QUERIES, RpcServer, register_hosts
from alcor.store.db import Database, UnitOfWork
from tests.scale import southbound_rows as rows
from tests.unit.test_compiler import compile_and_advance

# A packet-in as ovs-vswitchd 3.1 sent it (netdev datapath, OpenFlow 1.3), up to the frame:
# table 31, match in_port=1, tun_id=77, reg4=10.0.0.1, reg6=5, reg11=1 (xxreg2's low word).
CAPTURED = bytes.fromhex(
    "ffffffff002a011f0000000000000000"
    "00010030800000040000000180004c08000000000000004d"
    "000108040a00000100010c040000000500011604000000010000"
)
ASKER = bytes.fromhex("eac5ff299a02")


def arp_request(target: str) -> bytes:
    return (
        b"\xff" * 6
        + ASKER
        + b"\x08\x06"
        + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
        + ASKER
        + socket.inet_aton("10.9.0.1")
        + b"\0" * 6
        + socket.inet_aton(target)
    )


def _print(message: bytes) -> str:
    out = subprocess.run(
        ["ovs-ofctl", "ofp-print", message.hex()], capture_output=True, text=True, check=True
    ).stdout
    return re.sub(r"\(xid=0x[0-9a-f]+\)", "", out).strip()


# -- packet-ins, misses, re-injection ---------------------------------------------------------
def test_a_captured_packet_in_gives_its_table_and_pipeline_fields() -> None:
    packet = parse_packet_in(CAPTURED + arp_request("10.9.0.2"))
    assert (packet.in_port, packet.table_id) == (1, flows.ARP_RESPONDER)
    assert int.from_bytes(packet.fields[(0x8000 << 7) | 38], "big") == 77
    assert packet.fields[(1 << 7) | 6] == b"\0\0\0\x05"
    miss = ondemand.classify(packet, "net")
    assert miss == ondemand.Miss(("net", "10.9.0.2", ""), "arp")


def test_misses_are_keyed_by_what_they_ask() -> None:
    frame = arp_request("10.9.0.2")
    l2 = parse_packet_in(CAPTURED[:7] + bytes([flows.L2_FORWARD]) + CAPTURED[8:] + frame)
    assert ondemand.classify(l2, "n").key == ("n", "", "ff:ff:ff:ff:ff:ff")
    routed = parse_packet_in(
        CAPTURED[:7] + bytes([flows.ROUTE_NEIGHBOR]) + CAPTURED[8:] + frame[:12] + b"\x08\x00"
    )
    assert ondemand.classify(routed, "n") == ondemand.Miss(("n", "10.0.0.1", ""), "routed")


def _recording_channel() -> tuple[OpenFlowChannel, list[bytes]]:
    channel = OpenFlowChannel("/nonexistent", lambda p: None)
    sent: list[bytes] = []

    class Writer:
        def write(self, data: bytes) -> None:
            sent.append(data)

    channel.writer = Writer()  # type: ignore[assignment]
    return channel, sent


RESTORED = ("set_field:0x4d->tun_id", "set_field:0x5->reg6", "set_field:0xa000001->reg4")


def test_reinjection_restores_tun_id_and_registers_then_resubmits() -> None:
    packet = parse_packet_in(CAPTURED + arp_request("10.9.0.2"))
    channel, sent = _recording_channel()
    assert channel.reinject(packet, flows.L2_FORWARD)
    text = _print(sent[0])
    assert "in_port=1" in text, text
    for action in RESTORED:
        assert action in text, text
    assert "resubmit(,50)" in text, text


def test_a_shortcut_writes_what_the_entry_flow_would_then_goes_on() -> None:
    """An answered miss is sent on before its flows exist: the ARP answer's MAC then the
    reply table, or the remote port's tunnel then the tunnel port (as `spec_flows`)."""
    packet = parse_packet_in(CAPTURED + arp_request("10.9.0.2"))
    channel, sent = _recording_channel()
    mac = flows.mac_bytes("fa:16:3e:00:00:02")
    assert channel.reinject(packet, flows.ARP_REPLY, [(openflow_channel.OXM_ARP_THA, mac)])
    tunnel = [(openflow_channel.NXM_TUN_IPV4_DST, socket.inet_aton("198.18.0.2"))]
    assert channel.forward(packet, 65000, tunnel)
    arp, tunnelled = _print(sent[0]), _print(sent[1])
    for action in (*RESTORED, "set_field:fa:16:3e:00:00:02->arp_tha", "resubmit(,32)"):
        assert action in arp, arp
    for action in (*RESTORED, "set_field:198.18.0.2->tun_dst", "output:65000"):
        assert action in tunnelled, tunnelled


def test_entries_answer_their_mac_and_canonical_addresses() -> None:
    entry = pb.NeighborState(
        port_id="p",
        network_id="n",
        mac_address="FA:16:3E:00:00:01",
        fixed_ips=[pb.FixedIp(ip_address="2001:db8:0::1"), pb.FixedIp(ip_address="10.0.0.5")],
    )
    assert set(ondemand.entry_keys(entry)) == {
        ("n", "", "fa:16:3e:00:00:01"),
        ("n", "2001:db8::1", ""),
        ("n", "10.0.0.5", ""),
    }


# -- flows and bytes --------------------------------------------------------------------------
def test_an_on_demand_port_sends_its_misses_through_its_meter() -> None:
    port = pb.PortState(id="p", network_id="n", mac_address="fa:16:3e:00:00:01")
    port.admin_state_up = port.port_security_enabled = True
    plain = flows.port_flows(port, 7, 100)
    misses = set(flows.port_flows(port, 7, 100, on_demand=True)) - set(plain)
    assert misses == set(flows.miss_flows(7))
    assert {f.actions for f in misses} == {"meter:23,CONTROLLER:65535"}
    assert {f.table for f in misses} == {flows.ARP_RESPONDER, flows.L2_FORWARD}


def test_meter_and_expiring_l2_flow_bytes_as_ovs_reads_them() -> None:
    meter = _print(ofwire.meter_add(1, 23, 1000))
    assert "meter=23" in meter and "pktps" in meter and "burst" in meter, meter
    assert "type=drop rate=1000 burst_size=1000" in meter, meter
    spec = flows.NeighborSpec(
        0x0400000000000001, bytes(6), (), (bytes(6),), socket.inet_aton("198.18.0.2")
    )
    encoder = ofwire.NeighborEncoder(100, 9, idle_timeout=300)
    l2 = _print(encoder.l2(1, spec.cookie, bytes(6), spec.tunnel_ip))
    assert "idle:300" in l2 and "send_flow_rem" in l2, l2
    (text,) = flows.spec_flows(spec, 100, 9, idle_timeout=300)  # what a resync sends
    parsed = subprocess.run(
        ["ovs-ofctl", "-O", "OpenFlow14", "parse-flow", text.text(spec.cookie)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    flow_mod = next(ln for ln in parsed.splitlines() if ln.startswith("OFPT_FLOW_MOD"))
    assert re.sub(r"\(xid=0x[0-9a-f]+\)", "", flow_mod).strip() == l2


# -- the model ----------------------------------------------------------------------------------
def _model(on_demand: bool) -> HostModel:
    model = HostModel("h1")
    model.tunnel_ip = "198.18.0.1"
    net = pb.NetworkState(
        id="n",
        op=pb.UPSERT,
        revision=1,
        vni=100,
        on_demand=on_demand,
        flood_tunnel_ips=["198.18.0.1", "198.18.0.2", "198.18.0.3"],
    )
    port = pb.PortState(
        id="p", op=pb.UPSERT, revision=1, network_id="n", mac_address="fa:16:3e:00:00:01"
    )
    port.admin_state_up = True
    model.apply_host_delta(pb.HostDelta(networks=[net], ports=[port]), 0.0)
    model.tunnel_ofport = 9
    model.set_vif("p", 7)
    return model


def _remote(pid: str = "q", revision: int = 1, host: str = "h2") -> pb.NeighborState:
    return pb.NeighborState(
        port_id=pid,
        op=pb.UPSERT,
        revision=revision,
        network_id="n",
        mac_address="fa:16:3e:00:00:02",
        fixed_ips=[pb.FixedIp(ip_address="10.0.0.2")],
        host_id=host,
        tunnel_ip="198.18.0.2" if host == "h2" else "198.18.0.3",
    )


def test_an_on_demand_network_is_needed_but_not_followed() -> None:
    model = _model(on_demand=True)
    assert model.needed_networks() == {"n"} and model.served_networks() == set()
    assert model.meters() == {flows.port_meter(7)}
    flood = next(f for f in model.owner_flows(("net", "n")) if "dl_dst=01:00" in f.match)
    assert "198.18.0.2" in flood.actions and "198.18.0.3" in flood.actions
    assert "198.18.0.1" not in flood.actions  # never to itself
    preloaded = _model(on_demand=False)
    assert preloaded.served_networks() == {"n"} and preloaded.meters() == set()


def test_learnt_entries_get_flows_that_expire_and_newer_revisions_win() -> None:
    model = _model(on_demand=True)
    assert model.learn([_remote()]) == {("neigh", "n", "q")}
    update = model.neighbor_updates({"n": {"q"}})["n"]
    assert update is not None and update.idle_timeout == model.neighbor_idle_timeout
    assert model.learn([_remote()]) == set()  # the same revision again: nothing changes
    model.learn([_remote(revision=2, host="h3")])  # moved: the invalidation wins
    assert model.tables["n"].entries["q"].tunnel_ip == "198.18.0.3"
    assert model.forget("n", "q") == {("neigh", "n", "q")}
    assert "q" not in model.tables["n"].entries
    assert _model(on_demand=False).learn([_remote()]) == set()  # followed whole: ignored


def test_a_host_forgets_what_its_last_port_used() -> None:
    model = _model(on_demand=False)
    gone = pb.PortState(id="p", op=pb.DELETE, revision=2, network_id="n")
    model.apply_host_delta(pb.HostDelta(ports=[gone]), 0.0)
    assert model.networks == {} and model.subnets == {}


# -- the server -----------------------------------------------------------------------------
def test_the_mode_follows_the_attribute_then_the_threshold() -> None:
    row = {"alcor_neighbor_resolution": "auto", "addresses_in_use": 50}
    try:
        policy.configure(-1)
        assert not policy.is_on_demand(row) and not policy.may_be_on_demand(row)
        policy.configure(100)
        assert not policy.is_on_demand(row) and policy.may_be_on_demand(row)
        policy.configure(50)
        assert policy.is_on_demand(row)
        assert not policy.is_on_demand({**row, "alcor_neighbor_resolution": "preload"})
        assert not policy.is_on_demand({**row, "provider_network_type": "flat"})
        policy.configure(-1)
        assert policy.is_on_demand({**row, "alcor_neighbor_resolution": "on_demand"})
    finally:
        policy.configure(-1)


def _on_demand_network(db: Database, vni: int) -> tuple[str, str]:
    nid, sid = db.write_sync(rows.new_network, vni)
    db.write_sync(
        lambda uow: uow.execute(
            sa.update(build.networks_t)
            .where(build.networks_t.c.id == nid)
            .values(alcor_neighbor_resolution="on_demand")
        )
    )
    return nid, sid


def test_port_changes_of_an_on_demand_network_are_published_on_the_ports_subjects(
    db: Database,
) -> None:
    db.write_sync(
        register_hosts,
        [pb.AgentInfo(host_id=h, tunnel_ip=f"198.18.0.{i}") for i, h in ((1, "h1"), (2, "h2"))],
    )
    nid, sid = _on_demand_network(db, 140)
    first = db.write_sync(rows.new_port, nid, sid, 1, "h1")
    batch = compile_and_advance(db)
    assert subjects.neighbor(nid, first) in batch.notices
    state = batch.messages[subjects.host("h1")].networks[0]
    assert state.on_demand and list(state.flood_tunnel_ips) == ["198.18.0.1"]
    # a second host joins: every host of the network gets the new flood list
    db.write_sync(rows.new_port, nid, sid, 2, "h2")
    batch = compile_and_advance(db)
    for host in ("h1", "h2"):
        nets = batch.messages[subjects.host(host)].networks
        assert [list(n.flood_tunnel_ips) for n in nets] == [["198.18.0.1", "198.18.0.2"]]
    # one more port on a host already there: no flood-list news for the others
    db.write_sync(rows.new_port, nid, sid, 3, "h2")
    assert subjects.host("h1") not in compile_and_advance(db).messages
    db.write_sync(rows.delete_port, first)
    batch = compile_and_advance(db)
    gone = batch.notices[subjects.neighbor(nid, first)].neighbors[0]
    assert gone.op == pb.DELETE
    assert [list(n.flood_tunnel_ips) for n in batch.messages[subjects.host("h2")].networks] == [
        ["198.18.0.2"]
    ]


def test_joins_and_leaves_are_told_by_the_ports_of_the_batch(db: Database) -> None:
    """Whether a host joined or left an on-demand network is counted only up to the ports
    that arrived in the batch (a huge network's host holds thousands): still exact."""
    db.write_sync(
        register_hosts,
        [pb.AgentInfo(host_id=f"h{i}", tunnel_ip=f"198.18.0.{i}") for i in (1, 2, 3)],
    )
    nid, sid = _on_demand_network(db, 141)
    db.write_sync(rows.new_port, nid, sid, 1, "h1")
    compile_and_advance(db)

    def two_on_h2(uow: UnitOfWork) -> list[str]:
        return [rows.new_port(uow, nid, sid, i, "h2") for i in (2, 3)]

    moved, kept = db.write_sync(two_on_h2)
    batch = compile_and_advance(db)  # both arrived at once: h2 joined, h1 hears of it
    assert [list(n.flood_tunnel_ips) for n in batch.messages[subjects.host("h1")].networks] == [
        ["198.18.0.1", "198.18.0.2"]
    ]
    db.write_sync(rows.update_port, moved, {"binding_host_id": "h1"})
    batch = compile_and_advance(db)  # h1 held one already, h2 keeps one: no news of the list
    assert not batch.messages[subjects.host("h2")].networks
    db.write_sync(rows.update_port, kept, {"binding_host_id": "h3"})
    batch = compile_and_advance(db)  # h2's last port went to h3: h2 left, h3 joined
    assert [list(n.flood_tunnel_ips) for n in batch.messages[subjects.host("h1")].networks] == [
        ["198.18.0.1", "198.18.0.3"]
    ]


def test_resolve_answers_by_mac_and_says_what_nobody_holds(db: Database) -> None:
    db.write_sync(register_hosts, [pb.AgentInfo(host_id="h2", tunnel_ip="198.18.0.2")])
    nid, sid = _on_demand_network(db, 141)
    pid = db.write_sync(rows.new_port, nid, sid, 7, "h2")
    mac = rows.port_row(db, pid)["mac_address"]
    queries = [
        pb.ResolveQuery(network_id=nid, mac_address=mac.upper()),
        pb.ResolveQuery(network_id=nid, mac_address="fa:16:3e:ff:ff:ff"),
        pb.ResolveQuery(network_id=nid, ip_address="10.0.99.99"),
    ]
    reply = db.read_sync(build.resolve, queries)
    assert [(n.port_id, n.tunnel_ip) for n in reply.neighbors] == [(pid, "198.18.0.2")]
    assert [q.mac_address or q.ip_address for q in reply.unknown] == [
        "fa:16:3e:ff:ff:ff",
        "10.0.99.99",
    ]


def test_the_resolve_rpc_answers_small_requests_on_the_loop_and_large_ones_batched(
    db: Database,
) -> None:
    """A lone small request is answered in the subscription callback (on a connection kept
    for it), a larger one by the batcher; both through a real NATS server, alike."""
    db.write_sync(register_hosts, [pb.AgentInfo(host_id="h2", tunnel_ip="198.18.0.2")])
    nid, sid = _on_demand_network(db, 142)
    pid = db.write_sync(rows.new_port, nid, sid, 7, "h2")
    mac = rows.port_row(db, pid)["mac_address"]
    asked = pb.ResolveQuery(network_id=nid, mac_address=mac)
    nobody = [
        pb.ResolveQuery(network_id=nid, mac_address=f"fa:16:3e:ff:ff:{i:02x}")
        for i in range(INLINE_QUERIES)
    ]

    async def ask(nc: nats.aio.client.Client, queries: list[pb.ResolveQuery]) -> pb.ResolveReply:
        req = pb.ResolveRequest(host_id="h1", queries=queries).SerializeToString()
        return pb.ResolveReply.FromString((await nc.request(subjects.RPC_RESOLVE, req, 5)).data)

    async def scenario(url: str) -> tuple[pb.ResolveReply, pb.ResolveReply, bool]:
        nc = await nats.connect(url)
        rpc = RpcServer(db, nc, 75.0)
        await rpc.start()
        try:
            small = await ask(nc, [asked])
            kept = rpc._inline is not None
            large = await ask(nc, [asked, *nobody])
        finally:
            await rpc.stop()
            await nc.close()
        return small, large, kept

    with running() as server:
        small, large, kept = asyncio.run(scenario(f"nats://127.0.0.1:{server.port}"))
    assert kept
    assert [n.port_id for n in small.neighbors] == [pid] and not small.unknown
    assert [n.port_id for n in large.neighbors] == [pid]
    assert len(large.unknown) == INLINE_QUERIES
