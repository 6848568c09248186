"""Quotas are exact under concurrency: three `alcor server` processes on one PostgreSQL take
150 concurrent port creates and 40 concurrent network creates for one project whose limits
are 100 ports and 25 networks: exactly the limit succeeds, every other answer is OverQuota,
and another project creating at the same time is never refused."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import httpx
import pytest

from tests.support.servers import api_servers

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CONCURRENCY = 50


async def _post_all(urls: list[str], path: str, bodies: list[tuple[dict, dict]]) -> list[int]:
    gate = asyncio.Semaphore(CONCURRENCY)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=u, timeout=60)) for u in urls
        ]

        async def one(i: int, body: dict, headers: dict) -> int:
            async with gate:
                resp = await clients[i % len(clients)].post(path, json=body, headers=headers)
            if resp.status_code != 201:
                assert resp.json()["NeutronError"]["type"] == "OverQuota", resp.text
            return resp.status_code

        return await asyncio.gather(*(one(i, b, h) for i, (b, h) in enumerate(bodies)))


def test_quotas_exact_with_three_servers(pg_url: str) -> None:
    with api_servers(pg_url) as urls:
        limited = {"X-Project-Id": "limited", "X-Roles": "member"}
        free = {"X-Project-Id": "bystander", "X-Roles": "member"}
        resp = httpx.put(
            f"{urls[0]}/v2.0/quotas/limited", json={"quota": {"port": 100, "network": 25}}
        )
        assert resp.status_code == 200
        net = httpx.post(f"{urls[0]}/v2.0/networks", json={"network": {}}, headers=limited)
        net_id = net.json()["network"]["id"]
        body = {"subnet": {"network_id": net_id, "cidr": "10.95.0.0/22", "ip_version": 4}}
        assert httpx.post(f"{urls[1]}/v2.0/subnets", json=body, headers=limited).status_code == 201
        other = httpx.post(f"{urls[0]}/v2.0/networks", json={"network": {}}, headers=free)
        other_id = other.json()["network"]["id"]
        body = {"subnet": {"network_id": other_id, "cidr": "10.96.0.0/22", "ip_version": 4}}
        assert httpx.post(f"{urls[1]}/v2.0/subnets", json=body, headers=free).status_code == 201

        ports = [({"port": {"network_id": net_id}}, limited) for _ in range(150)]
        ports += [({"port": {"network_id": other_id}}, free) for _ in range(50)]
        codes = asyncio.run(_post_all(urls, "/v2.0/ports", ports))
        assert Counter(codes[:150]) == {201: 100, 409: 50}
        assert Counter(codes[150:]) == {201: 50}

        nets = [({"network": {"name": f"n{i}"}}, limited) for i in range(40)]
        codes = asyncio.run(_post_all(urls, "/v2.0/networks", nets))
        assert Counter(codes) == {201: 24, 409: 16}  # one network existed already

        # as the operator: Neutron's policy lets a project's manager read its quota, not members
        details = httpx.get(f"{urls[2]}/v2.0/quotas/limited/details").json()
        assert details["quota"]["port"]["used"] == 100
        assert details["quota"]["network"]["used"] == 25
