"""kill -9 a replica under create load, through the load balancer.

Two `alcor server` replicas on one PostgreSQL and one NATS behind HAProxy (`tests/support/
replicas.py`); eight clients create ports through HAProxy, each retrying as a careful client
does: after an error that may hide a commit (a 502 from a replica that died mid-request, a
dropped connection) it first looks its port up by name and only posts again if it is not
there. One replica is SIGKILLed in the middle. Afterwards every port a client believes in
exists exactly once, nothing else exists, no address leaked (the network's IP availability
counts exactly the ports) and the survivor took over the compiler (everything committed is
published).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from alcor.southbound.nats_server import running
from tests.support.postgres import PostgresServer, find_bin_dir
from tests.support.replicas import Replicas
from tests.support.waiting import all_published, wait_for

pytestmark = pytest.mark.skipif(find_bin_dir() is None, reason="needs PostgreSQL binaries")

CLIENTS = 8
PER_CLIENT = 40


@pytest.fixture
def replicas() -> Iterator[Replicas]:
    with PostgresServer() as pg, running() as nats:
        cluster = Replicas(pg.create_database(), nats.url, count=2)
        try:
            yield cluster.start()
        finally:
            cluster.stop()


def _create(http: httpx.Client, body: dict[str, Any], name: str) -> str:
    """Create the port named `name` exactly once, whatever the cluster does meanwhile."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            resp = http.post("/v2.0/ports", json={"port": {**body, "name": name}})
            if resp.status_code == 201:
                return str(resp.json()["port"]["id"])
            assert resp.status_code in (502, 503, 504), resp.text
        except httpx.TransportError:
            pass
        time.sleep(0.1)
        try:  # did the failed attempt commit after all?
            found = http.get(f"/v2.0/ports?name={name}&fields=id").json()["ports"]
        except (httpx.TransportError, ValueError):
            continue
        if found:
            return str(found[0]["id"])
    raise AssertionError(f"port {name} not created within 60 s")


def test_kill9_of_a_replica_under_load_loses_and_duplicates_nothing(replicas: Replicas) -> None:
    lb = replicas.balancer.url
    with httpx.Client(base_url=lb, timeout=30) as http:
        wait_for(lambda: http.get("/readyz").status_code == 200, 30, "the balancer")
        net = http.post("/v2.0/networks", json={"network": {"name": "rk"}}).json()["network"]
        subnet = {"network_id": net["id"], "ip_version": 4, "cidr": "10.80.0.0/22"}
        assert http.post("/v2.0/subnets", json={"subnet": subnet}).status_code == 201
    believed: dict[str, str] = {}
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            with httpx.Client(base_url=lb, timeout=30) as http:
                for i in range(PER_CLIENT):
                    name = f"c{n}-{i}"
                    believed[name] = _create(http, {"network_id": net["id"]}, name)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(believed) >= CLIENTS * PER_CLIENT // 4, 60, "load to be under way")
    replicas.kill9(0)
    for thread in threads:
        thread.join(120)
    assert not errors, errors[:3]
    assert len(believed) == CLIENTS * PER_CLIENT
    with httpx.Client(base_url=lb, timeout=30) as http:
        ports = http.get(f"/v2.0/ports?network_id={net['id']}&fields=id&fields=name").json()
        names = [p["name"] for p in ports["ports"]]
        assert sorted(names) == sorted(believed)  # each exactly once, nothing else
        assert {p["id"] for p in ports["ports"]} == set(believed.values())
        avail = http.get(f"/v2.0/network-ip-availabilities/{net['id']}").json()
        assert avail["network_ip_availability"]["used_ips"] == len(believed)  # no leak
        wait_for(
            lambda: all_published(http),
            60,
            "the survivor to take over the compiler and publish everything",
        )
