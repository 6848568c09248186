"""Three `alcor server` processes on one PostgreSQL, 600 concurrent port creates each into a
/24 and a /16: no duplicate IP or MAC, exactly the right number of 409s at exhaustion, and
every allocation released after the deletes (DESIGN §6)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections import Counter
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from alcor.ipam import pools
from alcor.lab.server_process import AlcorServer, lift_quotas
from alcor.store.db import Database
from tests.support.ipam_checks import check_pool
from tests.support.servers import api_servers

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CREATES = 600
CONCURRENCY = 60


async def _create_all(urls: list[str], network_id: str) -> list[httpx.Response]:
    gate = asyncio.Semaphore(CONCURRENCY)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=u, timeout=60)) for u in urls
        ]

        async def one(i: int) -> httpx.Response:
            async with gate:
                return await clients[i % len(clients)].post(
                    "/v2.0/ports", json={"port": {"network_id": network_id, "name": f"c{i}"}}
                )

        return await asyncio.gather(*(one(i) for i in range(CREATES)))


async def _delete_all(urls: list[str], ids: list[str]) -> list[int]:
    gate = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(timeout=60) as client:

        async def one(i: int, pid: str) -> int:
            async with gate:
                resp = await client.delete(f"{urls[i % len(urls)]}/v2.0/ports/{pid}")
                return resp.status_code

        return await asyncio.gather(*(one(i, p) for i, p in enumerate(ids)))


def _network(url: str, cidr: str) -> tuple[str, str]:
    net = httpx.post(f"{url}/v2.0/networks", json={"network": {"name": cidr}}).json()["network"]
    sub = httpx.post(
        f"{url}/v2.0/subnets",
        json={"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4}},
    ).json()["subnet"]
    return net["id"], sub["id"]


def _ports(responses: list[httpx.Response]) -> list[dict[str, Any]]:
    return [r.json()["port"] for r in responses if r.status_code == 201]


def test_three_servers_600_concurrent_creates(pg_url: str) -> None:
    with api_servers(pg_url) as urls:
        small_net, small_sub = _network(urls[0], "10.70.0.0/24")
        big_net, big_sub = _network(urls[1], "10.80.0.0/16")

        small = asyncio.run(_create_all(urls, small_net))
        codes = Counter(r.status_code for r in small)
        assert codes == {201: 253, 409: CREATES - 253}, codes
        assert {r.json()["NeutronError"]["type"] for r in small if r.status_code == 409} == {
            "IpAddressGenerationFailure"
        }
        big = asyncio.run(_create_all(urls, big_net))
        assert Counter(r.status_code for r in big) == {201: CREATES}

        for ports, cidr in ((_ports(small), "10.70.0.0/24"), (_ports(big), "10.80.0.0/16")):
            ips = [p["fixed_ips"][0]["ip_address"] for p in ports]
            macs = [p["mac_address"] for p in ports]
            assert len(set(ips)) == len(ips) and len(set(macs)) == len(macs)
            net = ipaddress.ip_network(cidr)
            assert all(ipaddress.ip_address(ip) in net for ip in ips)
            assert f"{net.network_address + 1}" not in ips  # the gateway

        ids = [p["id"] for p in _ports(small) + _ports(big)]
        assert set(asyncio.run(_delete_all(urls, ids))) == {204}

    db = Database(pg_url)
    try:
        assert db.read_sync(pools.used_count, small_sub) == 0
        assert db.read_sync(pools.used_count, big_sub) == 0
        assert (
            db.read_sync(lambda c: c.execute(sa.text("SELECT count(*) FROM ports")).scalar()) == 0
        )
        assert db.read_sync(check_pool, small_sub) == []
        assert db.read_sync(check_pool, big_sub) == []
    finally:
        db.close()


async def _bulk_all(url: str, network_id: str, requests: int, size: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        body = {"ports": [{"network_id": network_id} for _ in range(size)]}
        return await asyncio.gather(
            *(client.post("/v2.0/ports", json=body) for _ in range(requests))
        )


def test_concurrent_bulk_creates_draw_again_when_random_macs_collide(pg_url: str) -> None:
    """Two transactions can draw the same random MAC (neither sees the other's yet); the
    unique index refuses the second, which is then run again from the request (as Neutron
    retries on a duplicate entry) and draws anew, instead of failing with a 409. With only
    256 MACs to draw from (`base_mac` leaves one octet random), 4 bulk creates of 40 ports
    at once collide in nearly every run."""
    server = AlcorServer(database_url=pg_url, extra_env={"ALCOR_BASE_MAC": "fa:16:3e:4f:5a:00"})
    with server:
        lift_quotas(server.url)
        net, _ = _network(server.url, "10.90.0.0/24")
        responses = asyncio.run(_bulk_all(server.url, net, 4, 40))
        assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
        macs = [p["mac_address"] for r in responses for p in r.json()["ports"]]
        assert len(macs) == 160 == len(set(macs))
        assert all(m.startswith("fa:16:3e:4f:5a:") for m in macs)
