"""Fixtures of the end-to-end data-plane tests: real nats-server, real OVS, real DHCP clients.

One lab (3 hosts, one agent each) and one NATS server per module; every test creates only
namespaces under the lab's random prefix, and the lab is torn down even when a test fails.
The controller is `ControllerStandIn` (tests/e2e/controller.py) until the real server drives it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Iterator

import pytest

from alcor.lab.lab import Lab
from alcor.southbound.nats_server import NatsServer, free_port
from tests.e2e.controller import ControllerStandIn


def _can_run() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ovs-vswitchd", "ovsdb-server", "ovs-ofctl", "busybox", "nft", "ethtool"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


@pytest.fixture(scope="module")
def nats_server() -> Iterator[NatsServer]:
    server = NatsServer(free_port())
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def controller(nats_server: NatsServer) -> Iterator[ControllerStandIn]:
    ctl = ControllerStandIn(nats_server.url).start()
    yield ctl
    ctl.stop()


@pytest.fixture(scope="module")
def lab(nats_server: NatsServer, controller: ControllerStandIn) -> Iterator[Lab]:
    reason = _can_run()
    if reason:
        pytest.skip(reason)
    lab = Lab("e" + secrets.token_hex(3))
    try:
        lab.up(3, nats_server.url)
        controller.tunnel_ips.update({n: h.tunnel_ip for n, h in lab.hosts.items()})
        deadline = time.monotonic() + 30
        while set(controller.heartbeats) != set(lab.hosts):
            assert time.monotonic() < deadline, "agents did not register and heartbeat"
            time.sleep(0.1)
        yield lab
    finally:
        lab.down()
