"""Fixtures for southbound scale tests: a real nats-server, a real database, helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from alcor.config import ServerSettings
from alcor.southbound.nats_server import NatsServer, running
from alcor.southbound.service import Southbound
from alcor.southbound.sim import Fleet, expected_hash
from alcor.store.db import Database


@pytest.fixture
def nats_srv() -> Iterator[NatsServer]:
    with running() as server:
        yield server


def settings(nats: NatsServer, tmp: Path, down_time: float = 3.0) -> ServerSettings:
    return ServerSettings(nats_url=nats.url, state_dir=str(tmp), agent_down_time=down_time)


async def start_southbound(db: Database, conf: ServerSettings, **kw: float) -> Southbound:
    service = Southbound(
        db, conf, lease_ttl=kw.get("lease_ttl", 1.0), poll_interval=kw.get("poll_interval", 0.2)
    )
    await service.start()
    return service


async def wait_for(pred: Callable[[], bool], timeout: float = 20.0, what: str = "") -> float:
    """Poll `pred` until true; returns the seconds waited (fails the test on timeout)."""
    start = time.monotonic()
    while not pred():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or pred}")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def converged(db: Database, fleet: Fleet, timeout: float = 30.0) -> None:
    """Wait until every live simulated host holds exactly what the database implies."""

    def mismatches() -> list[str]:
        if not fleet.all_synced():
            return ["syncing"]
        got = fleet.hashes()
        want = {h: db.read_sync(expected_hash, h) for h, host in fleet.hosts.items() if host.alive}
        return [h for h in want if got[h] != want[h]]

    start = time.monotonic()
    bad = mismatches()
    while bad:
        if time.monotonic() - start > timeout:
            raise AssertionError(f"hosts not converged: {bad[:5]}")
        await asyncio.sleep(0.1)
        bad = mismatches()
