"""`alcor sim`: many simulated agents in one process, for scale tests."""

from __future__ import annotations

import asyncio
import contextlib

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from alcor.southbound.protocol.auth import NatsAuth
from alcor.southbound.sim import run_fleet


def sim(
    hosts: int = typer.Option(100, "--hosts", help="number of simulated hosts"),
    nats_url: str = typer.Option("nats://127.0.0.1:4222", "--nats-url", help="NATS server"),
    prefix: str = typer.Option("sim", "--prefix", help="host names are <prefix>-00000..."),
    nats_credentials: str = typer.Option(
        "", help="fleet nkey seed file (`alcor hosts add NAME --fleet`)"
    ),
    nats_tls_ca: str = typer.Option("", help="CA of the NATS server's TLS certificate"),
) -> None:
    """Run simulated host agents (register, follow goal states, ack ports, heartbeat)."""
    console = Console(stderr=True)

    async def main() -> None:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("registering hosts", total=hosts)
            fleet = await run_fleet(
                nats_url,
                hosts,
                prefix,
                lambda n: bar.advance(task, n),
                NatsAuth(nats_credentials, nats_tls_ca),
            )
        console.print(f"{hosts} simulated hosts running on {nats_url}; Ctrl-C to stop")
        try:
            while True:
                await asyncio.sleep(10)
                synced = sum(1 for h in fleet.hosts.values() if h.synced())
                console.print(
                    f"synced {synced}/{hosts}, deltas received {fleet.received}, "
                    f"acks sent {fleet.acks_sent}, networks {len(fleet.views)}"
                )
        finally:
            await fleet.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
