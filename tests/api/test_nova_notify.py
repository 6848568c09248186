"""Nova notifications: a real HTTP endpoint stands where Nova's API would be, failing when a
test says so; end to end, a real server configured with its URL and a simulated host acking
the port."""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from alcor.lab.server_process import AlcorServer, free_port
from alcor.southbound.nova import NovaNotifier
from tests.support.sim_fleet import running_fleet
from tests.support.waiting import wait_for


class _Nova(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    attempts = 0
    fail_next: list[int] = []  # statuses to answer the next POSTs with, instead of 200

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Nova.attempts += 1
        if _Nova.fail_next:
            self.send_response(_Nova.fail_next.pop(0))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
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


def _deleted(*ports: str) -> list[tuple[str, dict[str, Any]]]:
    """Committed changes as the database hands them to its listeners: VM ports deleted."""
    vm = {"device_id": "vm-1", "device_owner": "compute:nova"}
    return [("port_deleted", {**vm, "port_id": p}) for p in ports]


def _tags_since(first: int) -> list[str]:
    return [e["tag"] for r in _Nova.received[first:] for e in r["events"]]


async def _until(done: Callable[[], bool]) -> None:
    while not done():
        await asyncio.sleep(0.01)


def test_failed_sends_are_retried_in_order(nova: str) -> None:
    first = len(_Nova.received)
    _Nova.fail_next[:] = [503, 502]
    tried = _Nova.attempts

    async def run() -> NovaNotifier:
        notifier = NovaNotifier(nova, interval=0.05)
        notifier.start()
        notifier.on_events(_deleted("p0", "p1", "p2"))
        await asyncio.wait_for(_until(lambda: _Nova.attempts > tried), 20)
        notifier.on_events(_deleted("p3", "p4"))  # committed while the first ones wait
        await asyncio.wait_for(_until(lambda: notifier.sent == 5), 20)
        await notifier.stop()
        return notifier

    notifier = asyncio.run(run())
    assert _tags_since(first) == ["p0", "p1", "p2", "p3", "p4"]  # each once, in order
    assert notifier.dropped == 0 and not _Nova.fail_next


def test_events_nova_refuses_or_never_gets_are_dropped_and_logged(
    nova: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="alcor.southbound.nova")
    first = len(_Nova.received)
    _Nova.fail_next[:] = [404]  # Nova: none of these instances exist; sending again won't help

    async def refused() -> NovaNotifier:
        notifier = NovaNotifier(nova, interval=0.01)
        notifier.start()
        notifier.on_events(_deleted("gone"))
        await asyncio.wait_for(_until(lambda: notifier.dropped == 1), 20)
        notifier.on_events(_deleted("later"))  # and the notifier goes on
        await asyncio.wait_for(_until(lambda: notifier.sent == 1), 20)
        await notifier.stop()
        return notifier

    asyncio.run(refused())
    assert _tags_since(first) == ["later"]
    nowhere = f"http://127.0.0.1:{free_port()}/v2.1"

    async def unreachable(attempts: int, until_dropped: bool) -> NovaNotifier:
        notifier = NovaNotifier(nowhere, interval=0.01, attempts=attempts)
        notifier.start()
        notifier.on_events(_deleted("a", "b"))
        if until_dropped:
            await asyncio.wait_for(_until(lambda: notifier.dropped == 2), 20)
        await notifier.stop()
        return notifier

    assert asyncio.run(unreachable(3, until_dropped=True)).dropped == 2
    assert asyncio.run(unreachable(100, until_dropped=False)).dropped == 2
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert dropped[0].startswith("Nova notification: 1 events dropped after Nova refused them")
    assert dropped[1].startswith("Nova notification: 2 events dropped after 3 attempts")
    assert dropped[2] == "Nova notification: 2 events dropped after the server stopped"


def _alcor(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "alcor", *args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_vif_plugged_unplugged_deleted_reach_nova(nova: str) -> None:
    """...and `alcor port trace` shows the whole chain of the port, Nova's event last."""
    first = len(_Nova.received)
    _Nova.fail_next[:] = [503, 503]  # Nova is not answering yet: the events wait for it
    env = {"ALCOR_NOVA_URL": nova, "ALCOR_NOVA_TOKEN": "secret", "ALCOR_NOVA_SEND_INTERVAL": "0.2"}
    with AlcorServer(extra_env=env) as server, running_fleet(server, "novah", 1) as fleet:
        api = httpx.Client(base_url=server.url, timeout=30)
        net = api.post("/v2.0/networks", json={"network": {}}).json()["network"]
        api.post(
            "/v2.0/subnets",
            json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.61.0.0/24"}},
        )
        vm = str(uuid.uuid4())
        created = api.post(
            "/v2.0/ports",
            json={
                "port": {
                    "network_id": net["id"],
                    "device_id": vm,
                    "device_owner": "compute:nova",
                    "binding:host_id": sorted(fleet.hosts)[0],
                }
            },
        )
        port = created.json()["port"]

        def events() -> list[tuple[str, str, str]]:
            return [
                (e["name"], e["status"], e["server_uuid"])
                for r in _Nova.received[first:]
                for e in r["events"]
                if e["tag"] == port["id"]
            ]

        wait_for(
            lambda: ("network-vif-plugged", "completed", vm) in events(),
            what="network-vif-plugged",
        )
        assert not _Nova.fail_next  # it came through both failures
        received = _Nova.received[first:]
        assert all(r["path"] == "/v2.1/os-server-external-events" for r in received)
        assert {r["token"] for r in received} == {"secret"}

        trace = wait_for(
            lambda: (
                (t := api.get(f"/v2.0/ports/{port['id']}/trace").json()["trace"])["steps"][-1]["at"]
                and t
            ),
            what="the Nova stamp in the trace",
        )
        steps = {s["step"]: s for s in trace["steps"]}
        assert list(steps) == [
            *("request", "commit", "compile", "publish", "receipt", "program", "report"),
            *("active", "nova"),
        ]
        times = [s["at"] for s in trace["steps"]]
        assert None not in times
        # the server's own stamps are in order (the host's come from its clock)
        server_side = ("request", "commit", "compile", "publish", "active", "nova")
        assert [steps[n]["at"] for n in server_side] == sorted(steps[n]["at"] for n in server_side)
        assert trace["request_id"] == created.headers["x-openstack-request-id"]
        assert trace["request_id"] in steps["request"]["what"]
        assert "network-vif-plugged completed" in steps["nova"]["what"]
        assert trace["status"] == "ACTIVE" and trace["state"] == "SUCCESS"
        assert trace["total_ms"] == steps["nova"]["since_start_ms"] > 0

        table = _alcor("port", "trace", port["id"], "--url", server.url)
        assert all(name in table for name in steps) and "network-vif-plugged" in table
        as_json = json.loads(_alcor("port", "trace", port["id"], "--url", server.url, "--json"))
        assert as_json["request_id"] == trace["request_id"]
        missing = subprocess.run(
            [
                sys.executable,
                "-m",
                "alcor",
                "port",
                "trace",
                str(uuid.uuid4()),
                "--url",
                server.url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert missing.returncode == 1 and "404" in missing.stderr

        api.delete(f"/v2.0/ports/{port['id']}")
        wait_for(
            lambda: ("network-vif-deleted", "completed", vm) in events(),
            what="network-vif-deleted",
        )


def test_live_migration_destination_plugged_reaches_nova(nova: str) -> None:
    """An inactive binding's host programming the port (a live migration's destination)
    tells Nova `network-vif-plugged` while the port stays ACTIVE on its source, as ML2's
    `notify_port_active_direct` does: the event Nova waits for before it migrates."""
    env = {"ALCOR_NOVA_URL": nova, "ALCOR_NOVA_SEND_INTERVAL": "0.2"}
    with AlcorServer(extra_env=env) as server, running_fleet(server, "novam", 2) as fleet:
        src, dst = sorted(fleet.hosts)
        api = httpx.Client(base_url=server.url, timeout=30)
        net = api.post("/v2.0/networks", json={"network": {}}).json()["network"]
        api.post(
            "/v2.0/subnets",
            json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.64.0.0/24"}},
        )
        body = {"network_id": net["id"], "device_id": str(uuid.uuid4())}
        body.update({"device_owner": "compute:nova", "binding:host_id": src})
        port = api.post("/v2.0/ports", json={"port": body}).json()["port"]
        plugged = ("network-vif-plugged", "completed", port["id"])

        def events(since: int) -> list[tuple[str, str, str]]:
            return [
                (e["name"], e["status"], e["tag"])
                for r in _Nova.received[since:]
                for e in r["events"]
            ]

        wait_for(lambda: plugged in events(0), what="network-vif-plugged from the source")
        first = len(_Nova.received)
        made = api.post(f"/v2.0/ports/{port['id']}/bindings", json={"binding": {"host": dst}})
        assert made.status_code == 201, made.text
        wait_for(lambda: plugged in events(first), what="network-vif-plugged from the destination")
        shown = api.get(f"/v2.0/ports/{port['id']}").json()["port"]
        assert shown["status"] == "ACTIVE" and shown["binding:host_id"] == src
        assert ("network-vif-unplugged", "completed", port["id"]) not in events(first)
