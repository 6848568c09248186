"""The web view in a real headless browser (Debian's chromium, driven by Playwright) against a
real server with simulated hosts: the page loads the topology, shows a port turning ACTIVE
as the event stream says so, shows a port's trace, and the analyzer form answers.

`ALCOR_UI_SCREENSHOT=docs/ui.png` keeps the screenshot taken at the end (the README's).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from alcor.lab.server_process import AlcorServer
from alcor.southbound.sim import Fleet
from tests.api.conftest import member_headers, neutron_error
from tests.support.sim_fleet import running_fleet

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def server() -> Iterator[AlcorServer]:
    with AlcorServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def fleet(server: AlcorServer) -> Iterator[Fleet]:
    with running_fleet(server, "uih", 2) as hosts:
        yield hosts


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (scripts/setup.sh installs chromium)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def test_the_page_shows_ports_turning_active_and_answers_why(
    server: AlcorServer, fleet: Fleet, page: Any, tmp_path: Path
) -> None:
    http = httpx.Client(base_url=server.url, timeout=30)
    nets, subnets = [], []
    for name, cidr in (("ui-a", "10.65.0.0/24"), ("ui-b", "10.66.0.0/24")):
        nets.append(http.post("/v2.0/networks", json={"network": {"name": name}}).json()["network"])
        body = {"network_id": nets[-1]["id"], "ip_version": 4, "cidr": cidr}
        subnets.append(http.post("/v2.0/subnets", json={"subnet": body}).json()["subnet"])
    router = http.post("/v2.0/routers", json={"router": {"name": "ui-r"}}).json()["router"]
    for subnet in subnets:
        path = f"/v2.0/routers/{router['id']}/add_router_interface"
        http.put(path, json={"subnet_id": subnet["id"]}).raise_for_status()
    page.goto(f"{server.url}/ui")
    page.wait_for_selector("#live.on", timeout=WAIT_MS)
    page.wait_for_selector(f'rect[data-router="{router["id"]}"]', timeout=WAIT_MS)

    hosts = sorted(fleet.hosts)
    placed = [(nets[0], hosts[0]), (nets[1], hosts[1]), (nets[0], hosts[1])]
    ports = [
        http.post(
            "/v2.0/ports",
            json={"port": {"network_id": net["id"], "name": f"vm{i}", "binding:host_id": host}},
        ).json()["port"]
        for i, (net, host) in enumerate(placed)
    ]
    for port in ports:  # drawn on the map by the change's event, then ACTIVE by the status's
        selector = f'circle[data-port-id="{port["id"]}"][data-status="ACTIVE"]'
        page.wait_for_selector(selector, timeout=WAIT_MS)
    page.wait_for_function(
        "document.getElementById('events').textContent.includes('after its API request')",
        timeout=WAIT_MS,
    )
    assert page.locator("#agents li.alive").count() >= 2

    page.click(f'circle[data-port-id="{ports[0]["id"]}"]')
    page.wait_for_function(
        "document.getElementById('trace').textContent.includes('Nova') || "
        "document.getElementById('trace').textContent.includes('ACTIVE')",
        timeout=WAIT_MS,
    )
    assert "commit" in page.inner_text("#trace")

    page.select_option("#why-source", ports[0]["id"])
    page.select_option("#why-destination", ports[1]["id"])
    page.select_option("#why-protocol", "tcp")
    page.fill("#why-port", "22")
    page.click("#why-form button")
    page.wait_for_selector("#why-result[data-reachable]", timeout=WAIT_MS)
    # through the router; both in their project's default group, which admits its members
    assert page.get_attribute("#why-result", "data-reachable") == "yes"
    answer = page.inner_text("#why-result")
    assert "security_groups" in answer and router["id"] in answer

    page.select_option("#why-destination", "")
    page.fill("#why-address", "198.51.100.9")
    page.click("#why-form button")
    page.wait_for_selector('#why-result[data-reachable="no"]', timeout=WAIT_MS)
    assert "no external gateway" in page.inner_text("#why-result")

    shot = Path(os.environ.get("ALCOR_UI_SCREENSHOT") or tmp_path / "ui.png")
    page.set_viewport_size({"width": 1400, "height": 800})
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_static_files_and_the_event_stream_are_guarded(server: AlcorServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.get("/ui/app.js").headers["content-type"].startswith("text/javascript")
        neutron_error(http.get("/ui/nothing.js"), 404)
        neutron_error(http.get("/ui/..%2Fapp.py"), 404)
        resp = http.get("/v2.0/alcor/events", headers=member_headers("p1"))
        neutron_error(resp, 403)
        with http.stream("GET", "/v2.0/alcor/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            first = next(stream.iter_lines())
            assert first == "event: hello"
