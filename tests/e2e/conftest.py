"""Fixtures of the end-to-end data-plane tests: the production path on real packets.

One real `alcor server` process per module (embedded SQLite + its supervised nats-server,
`alcor.lab.server_process.AlcorServer`), driven only through the Neutron API, and a 3-host
lab whose agents connect to that server's NATS. Every namespace is named with the lab's
random prefix, every API object with the same prefix; lab and server are torn down even when
a test fails, and per-test objects go through the function-scoped `scratch` tracker.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator

import pytest

from alcor.lab.lab import Lab
from alcor.lab.server_process import AlcorServer
from tests.e2e.neutron import Api, Scratch
from tests.support.waiting import wait_for


def can_run() -> str | None:
    """Why these tests cannot run here (None: they can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ovs-vswitchd", "ovsdb-server", "ovs-ofctl", "busybox", "nft", "ethtool"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


@pytest.fixture(scope="module")
def server() -> Iterator[AlcorServer]:
    reason = can_run()
    if reason:
        pytest.skip(reason)
    srv = AlcorServer()
    try:
        srv.start()
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture(scope="module")
def api(server: AlcorServer) -> Iterator[Api]:
    client = Api(server.url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def lab(server: AlcorServer, api: Api) -> Iterator[Lab]:
    lab = Lab("e" + secrets.token_hex(3))
    try:
        lab.up(3, server.nats_url, credentials=server.credentials)
        wait_for(
            lambda: all(api.agents().get(h, {}).get("alive") for h in lab.hosts),
            30,
            "the 3 agents to register and heartbeat",
        )
        yield lab
    finally:
        lab.down()


@pytest.fixture
def scratch(api: Api, lab: Lab) -> Iterator[Scratch]:
    tracker = Scratch(api, lab)
    try:
        yield tracker
    finally:
        tracker.cleanup()
