"""PostgreSQL restarted under API load: requests fail fast with a 503 and a Neutron body, none
hangs and none is a 500; once the database is back the same server process serves again by
itself (no restart), and its compiler publishes what was committed before and after.

The server runs as a real `alcor server` process on its own throwaway PostgreSQL, which the
test stops (fast: every pooled connection is terminated) and brings back 3 s later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from alcor.lab.server_process import AlcorServer, lift_quotas
from tests.support.postgres import PostgresServer, find_bin_dir
from tests.support.waiting import all_published, wait_for

pytestmark = pytest.mark.skipif(find_bin_dir() is None, reason="needs PostgreSQL binaries")

LOAD_THREADS = 4
HANG_S = 8.0  # a request slower than this during the outage is a hang


@pytest.fixture
def pg_and_server() -> Iterator[tuple[PostgresServer, AlcorServer]]:
    with PostgresServer() as pg:
        srv = AlcorServer(database_url=pg.create_database())
        try:
            srv.start()
            lift_quotas(srv.url)  # the load makes more networks than Neutron's default 100
            yield pg, srv
        finally:
            srv.cleanup()


def test_requests_fail_fast_while_postgres_restarts_and_the_server_recovers_alone(
    pg_and_server: tuple[PostgresServer, AlcorServer],
) -> None:
    pg, srv = pg_and_server
    outcomes: list[tuple[float, int, float, str]] = []  # (started, status, seconds, type)
    stop = threading.Event()

    def load(n: int) -> None:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            i = 0
            while not stop.is_set():
                i += 1
                t = time.monotonic()
                resp = http.post("/v2.0/networks", json={"network": {"name": f"l{n}-{i}"}})
                kind = ""
                if resp.status_code >= 400:
                    kind = resp.json()["NeutronError"]["type"]
                outcomes.append((t, resp.status_code, time.monotonic() - t, kind))

    threads = [threading.Thread(target=load, args=(n,)) for n in range(LOAD_THREADS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        down_at = time.monotonic()
        pg.restart(down_s=3.0)
        up_at = time.monotonic()
        wait_for(
            lambda: any(t > up_at and code == 201 for t, code, _, _ in outcomes[-50:]),
            30,
            "creates to succeed again after the restart",
        )
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    codes = {code for _, code, _, _ in outcomes}
    assert codes <= {201, 503}, sorted({(code, kind) for _, code, _, kind in outcomes})
    during = [o for o in outcomes if down_at <= o[0] <= up_at]
    assert any(code == 503 for _, code, _, _ in during), "the outage was never seen"
    assert all(kind == "ServiceUnavailable" for _, code, _, kind in outcomes if code == 503)
    slowest = max(seconds for _, _, seconds, _ in outcomes)
    assert slowest < HANG_S, f"a request took {slowest:.1f} s"
    created = sum(code == 201 for _, code, _, _ in outcomes)
    listed = httpx.get(f"{srv.url}/v2.0/networks?fields=id", timeout=30).json()["networks"]
    assert len(listed) == created  # every 201 committed, no 503 left anything behind
    with httpx.Client(base_url=srv.url, timeout=30) as http:
        wait_for(lambda: all_published(http), 30, "the compiler to publish everything committed")
