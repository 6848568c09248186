"""The `openstack` CLI, unchanged, against a real server (noauth endpoint)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from alcor.lab.server_process import AlcorServer

OPENSTACK = str(Path(sys.executable).parent / "openstack")


def cli(server: AlcorServer, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [OPENSTACK, "--os-auth-type", "none", "--os-endpoint", server.url, *args]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def cli_json(server: AlcorServer, *args: str) -> Any:
    return json.loads(cli(server, *args, "-f", "json").stdout)


def test_openstack_cli_network_subnet_port(server: AlcorServer) -> None:
    name = f"cli-{uuid.uuid4().hex[:6]}"
    net = cli_json(server, "network", "create", name)
    assert net["mtu"] == 1450 and net["provider:network_type"] == "vxlan"
    sub = cli_json(
        server,
        "subnet",
        "create",
        "--network",
        name,
        "--subnet-range",
        "10.77.0.0/24",
        "--dns-nameserver",
        "198.19.0.53",
        f"{name}-s",
    )
    assert sub["gateway_ip"] == "10.77.0.1"
    fixed = ["--network", name, "--fixed-ip", f"subnet={name}-s,ip-address=10.77.0.20"]
    port = cli_json(server, "port", "create", *fixed, f"{name}-p")
    assert port["fixed_ips"][0]["ip_address"] == "10.77.0.20"
    dup = cli(server, "port", "create", *fixed, f"{name}-q", check=False)
    assert dup.returncode != 0 and "is in use" in dup.stderr
    listed = cli_json(server, "port", "list", "--network", name)
    assert [p["ID"] for p in listed] == [port["id"]]
    aliases = {e["Alias"] for e in cli_json(server, "extension", "list", "--network")}
    assert {"binding", "provider", "external-net", "agent"} <= aliases
    cli(server, "port", "delete", port["id"])
    cli(server, "network", "delete", name)
    gone = cli(server, "network", "show", name, check=False)
    assert gone.returncode != 0


def test_openstack_cli_security_group_router_floating_ip(server: AlcorServer) -> None:
    name = f"cli-{uuid.uuid4().hex[:6]}"
    sg = cli_json(server, "security", "group", "create", f"{name}-sg")
    ssh = ["security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22:23"]
    ssh += ["--remote-ip", "198.51.100.0/24", f"{name}-sg"]
    rule = cli_json(server, *ssh)
    assert rule["port_range_min"] == 22 and rule["port_range_max"] == 23
    assert rule["security_group_id"] == sg["id"] and rule["direction"] == "ingress"
    dup = cli(server, *ssh, check=False)
    assert dup.returncode != 0 and "already exists" in dup.stderr
    rules = cli_json(server, "security", "group", "rule", "list", f"{name}-sg")
    assert len(rules) == 3

    cli_json(server, "network", "create", f"{name}-net")
    cli_json(
        server,
        "subnet",
        "create",
        "--network",
        f"{name}-net",
        "--subnet-range",
        "10.78.0.0/24",
        f"{name}-sub",
    )
    cli_json(server, "network", "create", "--external", f"{name}-ext")
    cli_json(
        server,
        "subnet",
        "create",
        "--network",
        f"{name}-ext",
        "--subnet-range",
        "198.18.50.0/24",
        "--no-dhcp",
        f"{name}-extsub",
    )
    cli_json(server, "router", "create", f"{name}-r")
    cli(server, "router", "add", "subnet", f"{name}-r", f"{name}-sub")
    cli(server, "router", "set", "--external-gateway", f"{name}-ext", f"{name}-r")
    router = cli_json(server, "router", "show", f"{name}-r")
    assert router["external_gateway_info"]["network_id"]
    port = cli_json(server, "port", "create", "--network", f"{name}-net", f"{name}-p")
    fip = cli_json(server, "floating", "ip", "create", "--port", port["id"], f"{name}-ext")
    assert fip["floating_ip_address"].startswith("198.18.50.")
    assert fip["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    assert fip["router_id"] == router["id"]
    busy = cli(server, "router", "remove", "subnet", f"{name}-r", f"{name}-sub", check=False)
    assert busy.returncode != 0 and "floating IP" in busy.stderr
    cli(server, "floating", "ip", "delete", fip["id"])
    cli(server, "router", "remove", "subnet", f"{name}-r", f"{name}-sub")
