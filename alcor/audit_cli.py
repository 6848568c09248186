"""`alcor audit`: does every host hold what intent says it should? (`southbound.audit`)

Asks the API (`GET /v2.0/alcor/audit`, admin) and, for hosts that differ, have not reported
yet, or whose last report predates a change, asks again until `--settle` seconds passed: a
host is reported as differing only if it still does once its agent had time to report the
changes it got.
Exit status 1 when a live host differs, so scripts and fault tests can gate on it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

# a live host that has not reported yet will within its heartbeat interval (a simulated host
# never does: it stays `unreported` once --settle has passed, which is not a failure)
UNSETTLED = ("differs", "pending", "unreported")


def fetch(url: str, token: str, hosts: list[str]) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode([("host", h) for h in hosts])
    req = urllib.request.Request(f"{url.rstrip('/')}/v2.0/alcor/audit?{query}")
    if token:
        req.add_header("X-Auth-Token", token)
    with urllib.request.urlopen(req, timeout=60) as resp:
        return list(json.loads(resp.read())["audit"])


def settle(url: str, token: str, hosts: list[str], seconds: float) -> list[dict[str, Any]]:
    """The audit, asked again for unsettled hosts until they settle or `seconds` pass."""
    found = {a["host"]: a for a in fetch(url, token, hosts)}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        unsettled = [h for h, a in found.items() if a["state"] in UNSETTLED]
        if not unsettled:
            break
        time.sleep(1.0)
        found.update({a["host"]: a for a in fetch(url, token, unsettled)})
    return [found[h] for h in sorted(found)]


def audit(
    url: Annotated[str, typer.Option(help="Alcor API endpoint")] = "http://127.0.0.1:9696",
    host: Annotated[list[str] | None, typer.Option(help="only these hosts (repeatable)")] = None,
    settle_s: Annotated[
        float, typer.Option("--settle", help="seconds to wait for unsettled hosts")
    ] = 10.0,
    token: Annotated[str, typer.Option(help="X-Auth-Token (with Keystone)")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Compare what each host reports it holds with intent; exit 1 if a live host differs."""
    try:
        found = settle(url, token, host or [], settle_s)
    except (urllib.error.URLError, OSError) as exc:
        typer.echo(f"alcor audit: cannot ask {url}: {exc}. Is the server running?", err=True)
        raise typer.Exit(2) from None
    differing = [a for a in found if a["state"] == "differs"]
    if as_json:
        typer.echo(json.dumps(found, indent=1))
    else:
        table = Table("host", "state", "differs in", "last report")
        now = time.time()
        for a in found:
            age = f"{now - a['reported_at']:.1f} s ago" if a["reported_at"] else "-"
            style = {"in_step": "green", "differs": "red"}.get(a["state"], "yellow")
            table.add_row(
                a["host"], f"[{style}]{a['state']}[/{style}]", ", ".join(a["differs"]), age
            )
        Console().print(table)
        if differing:
            typer.echo(
                f"{len(differing)} host(s) differ from intent: the server asks them to resync "
                "(audit_interval); `alcor agent` restarts also resync."
            )
    if differing:
        raise typer.Exit(1)
