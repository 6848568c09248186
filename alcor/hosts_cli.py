"""`alcor hosts import FILE`: register many hypervisors at once from a file.

The original Alcor node manager accepted hosts one by one, in bulk, or as an uploaded file;
here the file is read by the client and sent as bulk creates of `/v2.0/agents` (admin), in
chunks, so a region's inventory of tens of thousands of hosts goes in with a progress bar.
Hosts registered this way show `alive: false` until their agent heartbeats.
"""

from __future__ import annotations

import csv
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress

app = typer.Typer(help="Hypervisor inventory.", no_args_is_help=True)

FIELDS = ("host", "tunnel_ip", "availability_zone", "description")


def read_inventory(path: Path) -> list[dict[str, Any]]:
    """Hosts from a JSON list of objects or a CSV file with a header row (host required)."""
    text = path.read_text()
    if path.suffix.lower() == ".json":
        rows = json.loads(text)
        if not isinstance(rows, list):
            raise ValueError(f"{path}: expected a JSON list of host objects")
    else:
        rows = list(csv.DictReader(text.splitlines()))
    hosts = []
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not row.get("host"):
            raise ValueError(f"{path}: entry {i} has no 'host'")
        unknown = set(row) - set(FIELDS)
        if unknown:
            raise ValueError(
                f"{path}: entry {i}: unknown fields {sorted(unknown)}; allowed: {', '.join(FIELDS)}"
            )
        hosts.append({k: v for k, v in row.items() if v not in (None, "")})
    return hosts


@app.command("import")
def import_hosts(
    file: Annotated[Path, typer.Argument(help="JSON list or CSV (host,tunnel_ip,...)")],
    url: Annotated[str, typer.Option(help="Alcor API endpoint")] = "http://127.0.0.1:9696",
    chunk: Annotated[int, typer.Option(help="hosts per request")] = 1000,
) -> None:
    """Pre-register hosts from FILE (all-or-nothing per chunk)."""
    try:
        hosts = read_inventory(file)
    except (OSError, ValueError) as exc:
        typer.echo(f"alcor hosts import: {exc}", err=True)
        raise typer.Exit(2) from None
    with Progress() as progress:
        task = progress.add_task("registering hosts", total=len(hosts))
        for start in range(0, len(hosts), chunk):
            part = hosts[start : start + chunk]
            body = json.dumps({"agents": part}).encode()
            req = urllib.request.Request(
                f"{url.rstrip('/')}/v2.0/agents",
                data=body,
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=120) as resp:
                    resp.read()
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")
                typer.echo(
                    f"alcor hosts import: hosts {start + 1}-{start + len(part)} "
                    f"refused ({exc.code}): {detail}",
                    err=True,
                )
                raise typer.Exit(1) from None
            except urllib.error.URLError as exc:
                typer.echo(
                    f"alcor hosts import: cannot reach {url}: {exc.reason}; is "
                    "`alcor server` running there?",
                    err=True,
                )
                raise typer.Exit(1) from None
            progress.advance(task, len(part))
    typer.echo(f"registered {len(hosts)} hosts")
