"""`alcor demo`: the whole path on one machine, narrated as it happens.

A server on the embedded defaults (SQLite + a bundled nats-server) unless one is given, a
3-host lab whose agents register over NATS, a network and subnet created through the Neutron
API, ports bound the way Nova binds them, VMs plugged on two hosts that get their DHCP lease
from their host's agent, the ports turning ACTIVE once their hosts programmed them, and a
ping across hosts over VXLAN. Everything it made is removed at the end.
"""

from __future__ import annotations

import functools
import json
import secrets
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

from rich.console import Console

from alcor.lab.lab import Lab
from alcor.lab.server_process import AlcorServer

SUBNET = "10.0.0.0/24"


class Api:
    """The few Neutron calls the demo makes, with errors that say what went wrong."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def __call__(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: {exc.code} {exc.read().decode()}") from None
        return json.loads(raw) if raw else None


def wait(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def run(server_url: str | None, nats_url: str | None, keep: bool, console: Console) -> bool:
    """Run the demo; True when the cross-host ping succeeded."""
    t0 = time.monotonic()

    def say(text: str) -> None:
        console.print(f"[dim]{time.monotonic() - t0:6.2f}s[/dim]  {text}")

    server: AlcorServer | None = None
    lab = Lab("demo" + secrets.token_hex(2))
    try:
        if server_url is None:
            server = AlcorServer().start()
            server_url, nats_url = server.url, server.nats_url
            say(f"server up at {server_url} (SQLite in {server.tmp}, embedded NATS {nats_url})")
        assert nats_url is not None
        api = Api(server_url)
        lab.up(
            3,
            nats_url,
            progress=lambda what: say(f"lab: {what} ready"),
            credentials=server.credentials if server is not None else None,
        )
        wait(
            lambda: sum(a["alive"] for a in api("GET", "/v2.0/agents")["agents"]) >= 3,
            "3 agents to register",
        )
        say(
            "3 agents registered and alive: "
            + ", ".join(
                f"{a['host']} ({a['configurations'].get('tunneling_ip', a.get('tunnel_ip'))})"
                for a in api("GET", "/v2.0/agents")["agents"]
            )
        )
        net = api("POST", "/v2.0/networks", {"network": {"name": "demo"}})["network"]
        say(f"network {net['id']} (VXLAN {net['provider:segmentation_id']}, MTU {net['mtu']})")
        sub = api(
            "POST",
            "/v2.0/subnets",
            {
                "subnet": {
                    "network_id": net["id"],
                    "ip_version": 4,
                    "cidr": SUBNET,
                    "name": "demo",
                    "dns_nameservers": ["203.0.113.53"],
                }
            },
        )["subnet"]
        say(f"subnet {sub['cidr']} gateway {sub['gateway_ip']}")
        vms = []
        for host in ("h1", "h2"):
            port = api(
                "POST",
                "/v2.0/ports",
                {
                    "port": {
                        "network_id": net["id"],
                        "device_owner": "compute:nova",
                        "device_id": str(uuid.uuid4()),
                        "binding:host_id": host,
                    }
                },
            )["port"]
            say(
                f"port {port['id'][:8]} {port['fixed_ips'][0]['ip_address']} bound to {host}: "
                f"vif_type={port['binding:vif_type']}, status={port['status']}"
            )
            vm = lab.add_vm(host, port["id"], port["mac_address"])
            lease = vm.lease()
            say(
                f"{vm.name} on {host} got DHCP lease {lease.get('ip')}/{lease.get('mask')} "
                f"router {lease.get('router')} mtu {lease.get('mtu')}"
            )
            vms.append((vm, port))

        def active(port_id: str) -> bool:
            return bool(api("GET", f"/v2.0/ports/{port_id}")["port"]["status"] == "ACTIVE")

        for _vm, port in vms:
            wait(functools.partial(active, port["id"]), f"port {port['id']} to turn ACTIVE")
            tl = api("GET", f"/v2.0/ports/{port['id']}/provisioning")["provisioning"]
            say(
                f"port {port['id'][:8]} ACTIVE; commit->programmed "
                f"{tl['latency_ms'].get('programmed', float('nan')):.1f} ms, "
                f"->reported {tl['latency_ms'].get('reported', float('nan')):.1f} ms"
            )
        (vm1, _), (vm2, _) = vms
        target = vm2.lease()["ip"]
        ok = vm1.ping(target, count=5)
        say(
            f"ping {vm1.name}@h1 -> {vm2.name}@h2 ({target}) across VXLAN: "
            + ("[green]ok[/green]" if ok else "[red]FAILED[/red]")
        )
        return ok
    finally:
        if keep:
            say(
                f"kept: `alcor lab down --prefix {lab.prefix}`"
                + (f", server pid {server.proc.pid}" if server and server.proc else "")
            )
        else:
            lab.down()
            if server is not None:
                server.cleanup()
            say("cleaned up")
