"""`alcor lab` and `alcor demo`: simulated hypervisors in network namespaces.

A thin shell over `alcor.lab.lab.Lab`: every command loads the lab's recorded state by prefix,
so `up`, `vm add` and `down` can run from different shells (root needed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from alcor.lab.lab import Lab

app = typer.Typer(help="Simulated hypervisors and VMs in network namespaces.", no_args_is_help=True)
vm_app = typer.Typer(help="VMs plugged the way Nova/os-vif plugs them.", no_args_is_help=True)
app.add_typer(vm_app, name="vm")
console = Console()

PREFIX = typer.Option("alab", help="Name prefix of everything the lab creates (1-8 chars).")


@app.command()
def up(
    hosts: int = typer.Option(3, help="Number of simulated hypervisors."),
    prefix: str = PREFIX,
    nats_url: str = typer.Option("nats://127.0.0.1:4222", help="NATS the agents connect to."),
    credentials_dir: Annotated[
        Path | None,
        typer.Option(help="Agents' seed files DIR/h1.nk... (`alcor hosts add h1 --out-dir DIR`)."),
    ] = None,
) -> None:
    """Build the underlay, N hosts (own ovsdb-server + ovs-vswitchd each) and their agents."""
    lab = Lab(prefix)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("building lab", total=hosts + 2)

        def step(what: str) -> None:
            progress.update(task, advance=1, description=what)

        lab.up(
            hosts,
            nats_url,
            progress=step,
            credentials=(lambda h: credentials_dir / f"{h}.nk") if credentials_dir else None,
        )
    status(prefix)


@app.command()
def status(
    prefix: str = PREFIX,
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Hosts, agents, VMs and the outside world of the lab."""
    lab = Lab.load(prefix)
    if as_json:
        doc = {
            "prefix": lab.prefix,
            "hosts": {
                h.name: {
                    "namespace": h.ns,
                    "vtep": h.tunnel_ip,
                    "agent_pid": h.agent_pid(),
                    "agent_metrics": h.metrics_url,
                }
                for h in lab.hosts.values()
            },
            "vms": {
                v.name: {
                    "namespace": v.ns,
                    "host": v.host.name,
                    "port_id": v.port_id,
                    "mac": v.mac,
                    "lease": v.lease(),
                }
                for v in lab.vms.values()
            },
            "external": lab.external(),
        }
        print(json.dumps(doc, indent=1))
        return
    table = Table("host", "namespace", "VTEP", "agent pid")
    for host in lab.hosts.values():
        table.add_row(host.name, host.ns, host.tunnel_ip, str(host.agent_pid() or "-"))
    console.print(table)
    if lab.vms:
        vms = Table("vm", "host", "port", "mac", "lease")
        for vm in lab.vms.values():
            lease = vm.lease()
            vms.add_row(vm.name, vm.host.name, vm.port_id, vm.mac, lease.get("ip", "-"))
        console.print(vms)
    external = lab.external()
    if external:
        console.print(
            f"outside world: namespace {external['namespace']}, {external['address']} on "
            f"physical network {external['physical_network']} (hosts' {external['bridge']})"
        )


@vm_app.command("add")
def vm_add(
    host: str = typer.Option(..., help="Host to boot the VM on (h1, h2, ...)."),
    port_id: str = typer.Option(..., help="Neutron port id (becomes external_ids:iface-id)."),
    mac: str = typer.Option(..., help="The port's MAC address."),
    name: str = typer.Option(None, help="VM name (namespace <prefix>-<name>)."),
    dhcp: bool = typer.Option(True, help="Run a DHCP client and wait for the lease."),
    prefix: str = PREFIX,
) -> None:
    """Plug a VM into a host's br-int with Nova's external_ids, then DHCP."""
    lab = Lab.load(prefix)
    with console.status(f"plugging {port_id} on {host}"):
        vm = lab.add_vm(host, port_id, mac, name=name, dhcp=dhcp)
    console.print_json(json.dumps({"vm": vm.name, "namespace": vm.ns, "lease": vm.lease()}))


@vm_app.command("del")
def vm_del(name: str = typer.Argument(..., help="VM name."), prefix: str = PREFIX) -> None:
    """Unplug and remove a VM."""
    Lab.load(prefix).remove_vm(name)


@app.command()
def down(prefix: str = PREFIX) -> None:
    """Remove everything the lab made (also after a crash)."""
    Lab.load(prefix).down()
    console.print(f"lab {prefix} removed")


def demo(
    server: str = typer.Option(
        None, help="URL of a running `alcor server`; default: start one on embedded defaults."
    ),
    nats_url: str = typer.Option(None, help="That server's NATS (with --server)."),
    keep: bool = typer.Option(False, help="Leave the lab (and server) running afterwards."),
) -> None:
    """Server, a 3-host lab, VMs on two hosts, DHCP leases and a ping across hosts."""
    from alcor.lab import demo as demo_mod

    if server and not nats_url:
        raise typer.BadParameter("--server needs --nats-url (the server's NATS)")
    if not demo_mod.run(server, nats_url, keep, console):
        raise typer.Exit(1)
