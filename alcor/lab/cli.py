"""`alcor lab` and `alcor demo`: simulated hypervisors in network namespaces."""

import typer

app = typer.Typer(help="Simulated hypervisors and VMs in network namespaces.")


def demo() -> None:
    """Server, a 3-host lab, VMs on two hosts, DHCP leases and a ping across hosts."""
