"""The direct resolve channel: its seals (pure), and a real server's UDP endpoint beside a
real NATS, asked by the agent's end, on SQLite (answered on the loop) and PostgreSQL
(through the batcher)."""

from __future__ import annotations

import asyncio
import socket
import time

import nats

from alcor.agent.direct import DirectChannel
from alcor.southbound.nats_server import running
from alcor.southbound.protocol import direct, subjects
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.rpc import RpcServer, register_hosts
from alcor.store.db import Database
from tests.scale import southbound_rows as rows
from tests.unit.test_on_demand import _on_demand_network

SECRET = b"s" * 32
QUERY = pb.ResolveQuery(network_id="n", mac_address="fa:16:3e:00:00:01")


def _request(host_id: str = "h1", sent_at: float = 1000.0, queries: int = 1) -> pb.DirectRequest:
    return pb.DirectRequest(host_id=host_id, id=7, sent_at=sent_at, queries=[QUERY] * queries)


def test_a_request_opens_only_under_its_hosts_key_while_fresh_and_small() -> None:
    key = direct.host_key(SECRET, "h1")
    sealed = direct.seal(key, _request())
    assert direct.open_request(SECRET, sealed, 1001.0) == (_request(), key)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    assert direct.open_request(SECRET, tampered, 1001.0) is None
    # h1's key does not speak for h2, nor does another server's secret open it
    assert direct.open_request(SECRET, direct.seal(key, _request("h2")), 1001.0) is None
    assert direct.open_request(b"t" * 32, sealed, 1001.0) is None
    assert direct.open_request(SECRET, sealed, 1000.0 + direct.MAX_AGE + 1) is None
    assert direct.open_request(SECRET, sealed, 1000.0 - direct.MAX_AGE - 1) is None
    big = direct.seal(key, _request(queries=direct.MAX_QUERIES + 1))
    assert direct.open_request(SECRET, big, 1001.0) is None
    assert direct.open_request(SECRET, b"\xff" * 40, 1001.0) is None
    assert direct.open_request(SECRET, b"", 1001.0) is None


def test_an_answer_opens_only_under_the_key_it_was_sealed_with() -> None:
    key = direct.host_key(SECRET, "h1")
    answer = pb.DirectReply(id=7, reply=pb.ResolveReply(unknown=[QUERY]))
    assert direct.open_reply(key, direct.seal(key, answer)) == answer
    assert direct.open_reply(direct.host_key(SECRET, "h2"), direct.seal(key, answer)) is None
    assert direct.open_reply(key, b"\0" * 10) is None


async def _nats_answer(nc: nats.aio.client.Client, query: pb.ResolveQuery) -> pb.ResolveReply:
    req = pb.ResolveRequest(host_id="h1", queries=[query]).SerializeToString()
    return pb.ResolveReply.FromString((await nc.request(subjects.RPC_RESOLVE, req, 5)).data)


def _silence(address: str, data: bytes) -> bool:
    """True if `data` sent to `address` gets no datagram back within 0.3 s."""
    host, _, port = address.rpartition(":")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.sendto(data, (host, int(port)))
        try:
            sock.recv(65536)
        except TimeoutError:
            return True
    return False


def test_the_direct_channel_answers_as_nats_does_and_nothing_forged_or_replayed(
    sb_db: Database,
) -> None:
    sb_db.write_sync(register_hosts, [pb.AgentInfo(host_id="h2", tunnel_ip="198.18.0.2")])
    nid, sid = _on_demand_network(sb_db, 143)
    pid = sb_db.write_sync(rows.new_port, nid, sid, 7, "h2")
    asked = pb.ResolveQuery(network_id=nid, mac_address=rows.port_row(sb_db, pid)["mac_address"])

    async def scenario(url: str) -> dict[str, object]:
        nc = await nats.connect(url)
        rpc = RpcServer(sb_db, nc, 75.0, "127.0.0.1:0")
        await rpc.start()
        agent_end = DirectChannel("h1", timeout=5.0)
        try:
            over_nats = await _nats_answer(nc, asked)
            await agent_end.offer(over_nats.direct)
            # a channel that works is kept when another server's answer names its own
            await agent_end.offer(pb.DirectChannel(address="127.0.0.1:9", key=b"k" * 32))
            over_udp = await agent_end.ask([asked])
            key = over_nats.direct.key
            sealed = direct.seal(key, pb.DirectRequest(host_id="h1", id=9, sent_at=time.time()))
            loop = asyncio.get_running_loop()
            first = await loop.run_in_executor(None, _silence, agent_end.address, sealed)
            replayed = await loop.run_in_executor(None, _silence, agent_end.address, sealed)
            forged = direct.seal(b"k" * 32, pb.DirectRequest(host_id="h1", id=10))
            forgery = await loop.run_in_executor(None, _silence, agent_end.address, forged)
        finally:
            agent_end.close()
            await rpc.stop()
            await nc.close()
        return {
            "nats": over_nats,
            "udp": over_udp,
            "first": first,
            "replayed": replayed,
            "forgery": forgery,
        }

    with running() as server:
        out = asyncio.run(scenario(f"nats://127.0.0.1:{server.port}"))
    over_nats, over_udp = out["nats"], out["udp"]
    assert isinstance(over_nats, pb.ResolveReply) and isinstance(over_udp, pb.ResolveReply)
    assert over_nats.direct.address.startswith("127.0.0.1:") and len(over_nats.direct.key) == 32
    assert [n.port_id for n in over_udp.neighbors] == [pid]
    assert list(over_udp.neighbors) == list(over_nats.neighbors)
    assert out["first"] is False  # a fresh signed request is answered...
    assert out["replayed"] is True  # ...once
    assert out["forgery"] is True


def test_the_agent_gives_up_on_a_channel_that_does_not_answer_and_rests_it() -> None:
    async def scenario() -> tuple[object, ...]:
        # a socket that reads and never answers, then a port nobody listens on (ICMP error)
        mute = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        mute.bind(("127.0.0.1", 0))
        closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        closed.bind(("127.0.0.1", 0))
        closed_address = f"127.0.0.1:{closed.getsockname()[1]}"
        closed.close()
        end = DirectChannel("h1", timeout=0.05)
        try:
            await end.offer(
                pb.DirectChannel(address=f"127.0.0.1:{mute.getsockname()[1]}", key=b"k" * 32)
            )
            usable_before = end.usable(1)
            started = time.monotonic()
            silent = await end.ask([QUERY])
            waited = time.monotonic() - started
            resting = not end.usable(1)
            # a resting channel gives way to the next one a NATS answer names
            await end.offer(pb.DirectChannel(address=closed_address, key=b"k" * 32))
            switched = end.address == closed_address
            refused = await end.ask([QUERY])
        finally:
            end.close()
            mute.close()
        return usable_before, silent, waited, resting, switched, refused, end.asked, end.missed

    usable_before, silent, waited, resting, switched, refused, asked, missed = asyncio.run(
        scenario()
    )
    assert usable_before and silent is None and waited >= 0.05 and resting
    assert switched and refused is None
    assert (asked, missed) == (2, 2)
    assert not DirectChannel("h1", 0.05).usable(1)  # nothing offered yet
