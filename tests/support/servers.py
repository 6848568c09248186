"""Several real `alcor server` processes sharing one database, for concurrency tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from alcor.lab.server_process import AlcorServer, lift_quotas
from alcor.southbound.nats_server import running


@contextlib.contextmanager
def api_servers(pg_url: str, n: int = 3) -> Iterator[list[str]]:
    """`n` `alcor server` processes on one PostgreSQL and one nats-server (their URLs), the
    admin project's quotas lifted for bulk loads."""
    with running() as nats, contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(AlcorServer(database_url=pg_url, nats_url=nats.url))
            for _ in range(n)
        ]
        urls = [s.url for s in servers]
        lift_quotas(urls[0])
        yield urls
