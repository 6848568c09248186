"""Simulated hosts as the agents of a real server process, on a loop in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from alcor.lab.server_process import AlcorServer
from alcor.southbound.protocol.auth import NatsAuth
from alcor.southbound.sim import Fleet


@contextlib.contextmanager
def running_fleet(server: AlcorServer, prefix: str, count: int = 2) -> Iterator[Fleet]:
    """`count` simulated hosts on the server's embedded NATS (fleet credentials)."""
    loop = asyncio.new_event_loop()
    creds = str(server.credentials(prefix, fleet=True))
    hosts = Fleet(server.nats_url, count, prefix=prefix, auth=NatsAuth(creds))
    loop.run_until_complete(hosts.start())
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()
    try:
        yield hosts
    finally:
        asyncio.run_coroutine_threadsafe(hosts.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        runner.join(10)
