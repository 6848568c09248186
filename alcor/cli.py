"""The `alcor` command: one entry point, each sub-command defined next to what it runs.

`server` and `db` live here (the API process); `agent`, `lab`, `demo`, `sim` and `bench` are
contributed by their packages so that the agent never imports the server side.
"""

from __future__ import annotations

import typer

from alcor.agent.cli import app as agent_app
from alcor.audit_cli import audit
from alcor.hosts_cli import app as hosts_app
from alcor.lab.cli import app as lab_app
from alcor.lab.cli import demo
from alcor.ops_cli import port_app, why
from alcor.server_cli import db_app, server
from alcor.southbound.cli import sim

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Alcor: a Neutron-API network control plane with an OVS host agent.",
)
app.command()(server)
app.add_typer(db_app, name="db")
app.add_typer(agent_app, name="agent")
app.add_typer(hosts_app, name="hosts")
app.add_typer(lab_app, name="lab")
app.add_typer(port_app, name="port")
app.command()(demo)
app.command()(sim)
app.command()(audit)
app.command()(why)


def main() -> None:
    app()
