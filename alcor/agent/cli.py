"""`alcor agent`: run the host agent (owned by the agent package)."""

import typer

app = typer.Typer(help="Run the host agent of one hypervisor.")
