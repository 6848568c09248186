"""Three `alcor server` processes on one PostgreSQL, 500 concurrent floating-IP creates from
one EIP range that an admin widens while they run: no address twice, exactly as many 409s as
the range lacks, and no address that was handed out moved by the edit."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections import Counter

import httpx
import pytest

from alcor.ipam import pools
from alcor.store.db import Database
from tests.support.ipam_checks import check_pool
from tests.support.servers import api_servers

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CREATES = 500
CONCURRENCY = 60
FIRST = [{"start": "100.64.0.10", "end": "100.64.1.143"}]  # 390 addresses
ADDED = {"start": "100.64.1.200", "end": "100.64.1.229"}  # 30 more, added mid-run
CAPACITY = 390 + 30


async def _run(urls: list[str], ext: str, subnet: str) -> tuple[list[httpx.Response], dict]:
    gate = asyncio.Semaphore(CONCURRENCY)
    done = 0
    early: dict[str, str] = {}  # floating IP id -> address, answered before the edit
    edited = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=u, timeout=60)) for u in urls
        ]

        async def one(i: int) -> httpx.Response:
            nonlocal done
            async with gate:
                resp = await clients[i % len(clients)].post(
                    "/v2.0/floatingips", json={"floatingip": {"floating_network_id": ext}}
                )
            done += 1
            if resp.status_code == 201 and not edited.is_set():
                fip = resp.json()["floatingip"]
                early[fip["id"]] = fip["floating_ip_address"]
            return resp

        async def edit() -> httpx.Response:
            while done < 100:
                await asyncio.sleep(0.005)
            edited.set()
            return await clients[0].put(
                f"/v2.0/subnets/{subnet}",
                json={"subnet": {"allocation_pools": [*FIRST, ADDED]}},
            )

        results = await asyncio.gather(edit(), *(one(i) for i in range(CREATES)))
    edit_resp = results[0]
    assert edit_resp.status_code == 200, edit_resp.text
    return list(results[1:]), early


def test_three_servers_500_concurrent_floating_ips(pg_url: str) -> None:
    with api_servers(pg_url) as urls:
        ext = httpx.post(
            f"{urls[0]}/v2.0/networks",
            json={"network": {"name": "ext", "router:external": True}},
        ).json()["network"]["id"]
        subnet = httpx.post(
            f"{urls[0]}/v2.0/subnets",
            json={
                "subnet": {
                    "network_id": ext,
                    "cidr": "100.64.0.0/23",
                    "ip_version": 4,
                    "allocation_pools": FIRST,
                }
            },
        ).json()["subnet"]["id"]

        responses, early = asyncio.run(_run(urls, ext, subnet))
        codes = Counter(r.status_code for r in responses)
        assert codes == {201: CAPACITY, 409: CREATES - CAPACITY}, codes
        assert {r.json()["NeutronError"]["type"] for r in responses if r.status_code == 409} == {
            "IpAddressGenerationFailure"
        }
        made = [r.json()["floatingip"] for r in responses if r.status_code == 201]
        addresses = [ipaddress.ip_address(f["floating_ip_address"]) for f in made]
        assert len(set(addresses)) == CAPACITY
        ranges = [*FIRST, ADDED]
        assert all(
            any(
                ipaddress.ip_address(r["start"]) <= a <= ipaddress.ip_address(r["end"])
                for r in ranges
            )
            for a in addresses
        )
        assert len(early) >= 100
        now = {
            f["id"]: f["floating_ip_address"]
            for f in httpx.get(f"{urls[2]}/v2.0/floatingips?limit=1000").json()["floatingips"]
        }
        assert {fid: now[fid] for fid in early} == early  # the edit moved nothing

        deleted = Counter(
            httpx.delete(f"{urls[i % 3]}/v2.0/floatingips/{f['id']}").status_code
            for i, f in enumerate(made)
        )
        assert deleted == {204: CAPACITY}

    db = Database(pg_url)
    try:
        assert db.read_sync(pools.used_count, subnet) == 0
        assert db.read_sync(check_pool, subnet) == []
    finally:
        db.close()
