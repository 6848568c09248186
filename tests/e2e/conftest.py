"""Fixtures of the end-to-end data-plane tests: the production path on real packets.

One real `alcor server` process per module (embedded SQLite + its supervised nats-server,
`alcor.lab.server_process.AlcorServer`), driven only through the Neutron API, and a 3-host
lab whose agents connect to that server's NATS. Every namespace is named with the lab's
random prefix, every API object with the same prefix; lab and server are torn down even when
a test fails, and per-test objects go through the function-scoped `scratch` tracker.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from alcor.lab.lab import Lab
from alcor.lab.server_process import AlcorServer
from tests.e2e.neutron import Api, Scratch
from tests.support.waiting import wait_for


def preloaded() -> bool:
    """Whether hosts hold their networks' whole neighbour tables (the default), or learn
    neighbours by the first packet: the suite passes both ways, run with
    ALCOR_NEIGHBOR_ON_DEMAND_THRESHOLD=0 for the second (`alcor.southbound.ondemand`)."""
    return os.environ.get("ALCOR_NEIGHBOR_ON_DEMAND_THRESHOLD", "") != "0"


def can_run() -> str | None:
    """Why these tests cannot run here (None: they can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ovs-vswitchd", "ovsdb-server", "ovs-ofctl", "busybox", "nft", "ethtool"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


@contextlib.contextmanager
def serving(**kwargs: Any) -> Iterator[AlcorServer]:
    """A started `alcor server` (`AlcorServer(**kwargs)`), removed afterwards; skips the test
    where the lab cannot run."""
    reason = can_run()
    if reason:
        pytest.skip(reason)
    srv = AlcorServer(**kwargs)
    try:
        srv.start()
        yield srv
    finally:
        srv.cleanup()


@contextlib.contextmanager
def lab_up(server: AlcorServer, api: Api, letter: str, credentials: bool = True) -> Iterator[Lab]:
    """A 3-host lab (prefix `letter` + random) whose agents registered with `server`; torn
    down afterwards. `credentials`: per-host nkeys (the embedded NATS wants them)."""
    lab = Lab(letter + secrets.token_hex(3))
    try:
        lab.up(3, server.nats_url, credentials=server.credentials if credentials else None)
        wait_for(
            lambda: all(api.agents().get(h, {}).get("alive") for h in lab.hosts),
            30,
            "the 3 agents to register and heartbeat",
        )
        yield lab
    finally:
        lab.down()


def audit_cli(server: AlcorServer) -> tuple[int, list[dict[str, Any]]]:
    """`alcor audit --json` against `server` (unsettled hosts waited for up to 30 s)."""
    cmd = [sys.executable, "-m", "alcor", "audit", "--url", server.url, "--json", "--settle", "30"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def assert_audit_clean(server: AlcorServer) -> None:
    code, found = audit_cli(server)
    assert code == 0, found


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[AlcorServer]:
    """The module's server; a module's `SERVER_ENV` (a dict) adds to its environment, e.g. a
    short agent_down_time where a test waits for a failover."""
    with serving(extra_env=getattr(request.module, "SERVER_ENV", None)) as srv:
        yield srv


@pytest.fixture(scope="module")
def api(server: AlcorServer) -> Iterator[Api]:
    client = Api(server.url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def lab(server: AlcorServer, api: Api) -> Iterator[Lab]:
    with lab_up(server, api, "e") as lab:
        yield lab


@pytest.fixture
def scratch(api: Api, lab: Lab) -> Iterator[Scratch]:
    tracker = Scratch(api, lab)
    try:
        yield tracker
    finally:
        tracker.cleanup()
