"""Three `alcor server` processes on one PostgreSQL carving subnets from one subnet pool at
once: 90 concurrent creates of mixed sizes by prefix length, plus 10 racing for the same
explicit CIDR. No two subnets ever overlap, every one lies in the pool, exactly one of the
racers wins, and the pool runs out exactly where its space does."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
from collections import Counter

import httpx
import pytest

from alcor.ipam import prefixes
from tests.support.servers import api_servers

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

POOL = "10.128.0.0/21"  # 2048 addresses
SIZES = (26, 27, 28)  # 64, 32 and 16 addresses, round robin
CREATES = 90  # 30 of each: 30 * (64 + 32 + 16) = 3360 wanted > 2048 - the raced /24
RACED = "10.128.7.0/24"
RACERS = 10
NETWORKS = 10
CONCURRENCY = 40


async def _carve(urls: list[str], pool: str, nets: list[str]) -> list[httpx.Response]:
    gate = asyncio.Semaphore(CONCURRENCY)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=u, timeout=60)) for u in urls
        ]

        async def one(i: int, **attrs: object) -> httpx.Response:
            body = {"network_id": nets[i % NETWORKS], "ip_version": 4, "subnetpool_id": pool}
            async with gate:
                return await clients[i % len(clients)].post(
                    "/v2.0/subnets", json={"subnet": {**body, **attrs}}
                )

        racers = [one(i, cidr=RACED) for i in range(RACERS)]
        sized = [one(i, prefixlen=SIZES[i % len(SIZES)]) for i in range(CREATES)]
        return list(await asyncio.gather(*racers, *sized))


def test_three_servers_carve_one_pool_without_overlap(pg_url: str) -> None:
    with api_servers(pg_url) as urls:
        pool = httpx.post(
            f"{urls[0]}/v2.0/subnetpools",
            json={"subnetpool": {"name": "p", "prefixes": [POOL], "min_prefixlen": 21}},
        ).json()["subnetpool"]["id"]
        nets = [
            httpx.post(f"{urls[i % 3]}/v2.0/networks", json={"network": {"name": f"n{i}"}}).json()[
                "network"
            ]["id"]
            for i in range(NETWORKS)
        ]
        responses = asyncio.run(_carve(urls, pool, nets))
        racers, sized = responses[:RACERS], responses[RACERS:]
        assert sorted(r.status_code for r in racers) == [201] + [409] * (RACERS - 1)
        assert {r.json()["NeutronError"]["type"] for r in responses if r.status_code == 409} == {
            "SubnetAllocationError"
        }
        made = [
            ipaddress.ip_network(r.json()["subnet"]["cidr"])
            for r in responses
            if r.status_code == 201
        ]
        assert all(n.subnet_of(ipaddress.ip_network(POOL)) for n in made)
        ordered = sorted(made)
        for a, b in itertools.pairwise(ordered):
            assert not a.overlaps(b), (a, b)
        # refused only for want of room: no free block is left that a refused size fits
        refused = {SIZES[i % len(SIZES)] for i, r in enumerate(sized) if r.status_code != 201}
        assert refused, Counter(r.status_code for r in sized)
        free = prefixes.free_blocks([POOL], [str(n) for n in made])
        assert all(b.prefixlen > size for b in free for size in refused), (free, refused)
        listed = httpx.get(f"{urls[1]}/v2.0/subnets?subnetpool_id={pool}&limit=1000").json()
        assert len(listed["subnets"]) == len(made)
