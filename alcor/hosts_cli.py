"""`alcor hosts import FILE`: register many hypervisors at once from a file.

The original Alcor node manager accepted hosts one by one, in bulk, or as an uploaded file;
here the file is read by the client and sent as bulk creates of `/v2.0/agents` (admin), in
chunks, so a region's inventory of tens of thousands of hosts goes in with a progress bar.
Hosts registered this way show `alive: false` until their agent heartbeats.

`alcor hosts add HOST` (and `import --credentials-dir`) issue southbound credentials: an nkey
seed per host, written 0600 for its agent (`alcor agent run --nats-credentials`), whose
public key the embedded nats-server admits with that host's permissions (`nats_auth`). They
work on the server's state dir directly, so run them on the server machine as the server's
user; a running server picks the new users up at once (its nats-server is reloaded).
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

from alcor.config import ServerSettings, load
from alcor.southbound.nats_server import add_users

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


StateDir = Annotated[
    str | None, typer.Option(help="the server's state_dir (default: from its settings)")
]
Config = Annotated[str | None, typer.Option(help="the server's TOML config file")]


def issue(
    role: str, names: list[str], out_dir: Path, state_dir: str | None, config: str | None
) -> list[Path]:
    """Credentials for `names` in the server's state dir; exits with a message on failure."""
    settings = load(ServerSettings, {"state_dir": state_dir}, config, section="server")
    try:
        return add_users(Path(settings.state_dir) / "nats", role, names, out_dir)
    except (OSError, ValueError, RuntimeError) as exc:
        typer.echo(f"alcor hosts: no credentials issued: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command("add")
def add(
    host: Annotated[str, typer.Argument(help="host id (Nova's binding:host_id)")],
    out_dir: Annotated[Path, typer.Option(help="where to write HOST.nk")] = Path("."),
    fleet: Annotated[
        bool, typer.Option(help="a simulator's credentials: may act as ANY host (tests only)")
    ] = False,
    state_dir: StateDir = None,
    config: Config = None,
) -> None:
    """Issue HOST's southbound credentials (replacing any it had)."""
    (path,) = issue("fleets" if fleet else "hosts", [host], out_dir, state_dir, config)
    use = (
        "alcor sim --nats-credentials"
        if fleet
        else f"alcor agent run --host-id {host} --nats-credentials"
    )
    typer.echo(f"wrote {path} (keep it secret); use: {use} {path}")


@app.command("import")
def import_hosts(
    file: Annotated[Path, typer.Argument(help="JSON list or CSV (host,tunnel_ip,...)")],
    url: Annotated[str, typer.Option(help="Alcor API endpoint")] = "http://127.0.0.1:9696",
    chunk: Annotated[int, typer.Option(help="hosts per request")] = 1000,
    credentials_dir: Annotated[
        Path | None, typer.Option(help="also issue each host's credentials, as DIR/HOST.nk")
    ] = None,
    state_dir: StateDir = None,
    config: Config = None,
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
    if credentials_dir is not None:
        issue("hosts", [h["host"] for h in hosts], credentials_dir, state_dir, config)
        typer.echo(f"wrote {len(hosts)} credentials to {credentials_dir}")
