"""Operators' commands that ask a running server: `alcor port trace` and `alcor why`.

They speak only the HTTP API (as admin, in noauth; headers from `--header`), so they work
against any server, print a table for people and `--json` for scripts; a Neutron error
is shown as its message with exit code 1.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

port_app = typer.Typer(help="One port, seen from the control plane.", no_args_is_help=True)

Url = Annotated[str, typer.Option(help="Alcor API endpoint")]
AsJson = Annotated[bool, typer.Option("--json", help="print the server's JSON answer")]
Headers = Annotated[
    list[str] | None,
    typer.Option("--header", help="extra request header NAME:VALUE (e.g. X-Auth-Token:...)"),
]


def get(url: str, path: str, headers: list[str] | None = None) -> Any:
    """GET `path` from the API; a Neutron error ends the command with its message."""
    req = urllib.request.Request(url.rstrip("/") + path)
    for header in headers or ():
        name, _, value = header.partition(":")
        req.add_header(name.strip(), value.strip())
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["NeutronError"]["message"]
        except (ValueError, KeyError, TypeError):
            message = str(exc)
        typer.echo(f"alcor: {exc.code}: {message}", err=True)
        raise typer.Exit(1) from None
    except urllib.error.URLError as exc:
        typer.echo(f"alcor: cannot reach {url}: {exc.reason}", err=True)
        raise typer.Exit(1) from None


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


@port_app.command("trace")
def port_trace(
    port: Annotated[str, typer.Argument(help="port id")],
    url: Url = "http://127.0.0.1:9696",
    as_json: AsJson = False,
    header: Headers = None,
) -> None:
    """The chain of a port's newest change: API request, commit, compile, publish, host
    receipt, programming, report, ACTIVE, Nova's notification, with durations."""
    body = get(url, f"/v2.0/ports/{urllib.parse.quote(port)}/trace", header)["trace"]
    if as_json:
        typer.echo(json.dumps(body, indent=2))
        return
    title = (
        f"port {body['port_id']} {body.get('name') or ''} - {body['status']} on "
        f"{body['host_id'] or 'no host'} (host: {body['state'] or 'nothing reported'})"
    )
    table = Table(title=title, title_justify="left")
    for name, justify in (("step", "left"), ("+ms", "right"), ("total ms", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("what")
    for step in body["steps"]:
        done = step["at"] is not None
        table.add_row(
            step["step"] if done else f"[dim]{step['step']}[/dim]",
            _ms(step.get("step_ms")),
            _ms(step.get("since_start_ms")),
            step["what"] if done else f"[dim]{step['what']} - not yet[/dim]",
        )
    console = Console()
    console.print(table)
    if body["reason"]:
        console.print(f"host's reason: {body['reason']}")
    if body["reported_request_id"] and body["reported_request_id"] != body["request_id"]:
        console.print(f"the host last reported on request {body['reported_request_id']}")


def why(
    source: Annotated[str, typer.Argument(help="source port id (or an outside address)")],
    destination: Annotated[str, typer.Argument(help="destination port id or IP address")],
    service: Annotated[str, typer.Argument(help="tcp/PORT, udp/PORT or icmp")] = "icmp",
    url: Url = "http://127.0.0.1:9696",
    as_json: AsJson = False,
    header: Headers = None,
) -> None:
    """Whether SOURCE reaches DESTINATION, hop by hop, from intent (exit 0: reachable,
    3: blocked, 4: not analyzable), with the rule or missing route that decides."""
    protocol, _, port = service.partition("/")
    query = {"source": source, "destination": destination, "protocol": protocol}
    if port:
        query["port"] = port
    path = "/v2.0/alcor/reachability?" + urllib.parse.urlencode(query)
    body = get(url, path, header)["reachability"]
    if as_json:
        typer.echo(json.dumps(body, indent=2))
    else:
        table = Table(title=f"{source} -> {destination} {service}: {body['summary']}")
        for name in ("hop", "at", "verdict", "detail"):
            table.add_column(name)
        colours = {"pass": "green", "blocked": "red", "unknown": "yellow"}
        for hop in body["path"]:
            mark = colours[hop["verdict"]]
            table.add_row(
                hop["hop"], hop["at"], f"[{mark}]{hop['verdict']}[/{mark}]", hop["detail"]
            )
        Console().print(table)
    if body["reachable"] is not True:
        raise typer.Exit(3 if body["reachable"] is False else 4)
