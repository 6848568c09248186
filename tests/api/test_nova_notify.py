"""Nova notifications end to end: a real server configured with a Nova URL, a simulated host
acking the port, and a real HTTP endpoint standing where Nova's API would be."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from alcor.lab.server_process import AlcorServer, free_port
from alcor.southbound.sim import Fleet
from tests.support.waiting import wait_for


class _Nova(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Nova.received.append(
            {"path": self.path, "token": self.headers.get("X-Auth-Token"), "events": body["events"]}
        )
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def nova() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Nova)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v2.1"
    server.shutdown()


def test_vif_plugged_unplugged_deleted_reach_nova(nova: str) -> None:
    env = {"ALCOR_NOVA_URL": nova, "ALCOR_NOVA_TOKEN": "secret", "ALCOR_NOVA_SEND_INTERVAL": "0.2"}
    with AlcorServer(extra_env=env) as server:
        loop = asyncio.new_event_loop()
        fleet = Fleet(server.nats_url, 1, prefix="novah")
        loop.run_until_complete(fleet.start())
        runner = threading.Thread(target=loop.run_forever, daemon=True)
        runner.start()
        try:
            api = httpx.Client(base_url=server.url, timeout=30)
            net = api.post("/v2.0/networks", json={"network": {}}).json()["network"]
            api.post(
                "/v2.0/subnets",
                json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.61.0.0/24"}},
            )
            vm = str(uuid.uuid4())
            port = api.post(
                "/v2.0/ports",
                json={
                    "port": {
                        "network_id": net["id"],
                        "device_id": vm,
                        "device_owner": "compute:nova",
                        "binding:host_id": "novah-00000",
                    }
                },
            ).json()["port"]

            def events() -> list[tuple[str, str, str]]:
                return [
                    (e["name"], e["status"], e["server_uuid"])
                    for r in _Nova.received
                    for e in r["events"]
                    if e["tag"] == port["id"]
                ]

            wait_for(
                lambda: ("network-vif-plugged", "completed", vm) in events(),
                what="network-vif-plugged",
            )
            assert all(r["path"] == "/v2.1/os-server-external-events" for r in _Nova.received)
            assert {r["token"] for r in _Nova.received} == {"secret"}
            api.delete(f"/v2.0/ports/{port['id']}")
            wait_for(
                lambda: ("network-vif-deleted", "completed", vm) in events(),
                what="network-vif-deleted",
            )
        finally:
            asyncio.run_coroutine_threadsafe(fleet.stop(), loop).result(30)
            loop.call_soon_threadsafe(loop.stop)
            runner.join(10)
