"""`alcor agent`: run the host agent (owned by the agent package)."""

from __future__ import annotations

import asyncio

import typer

from alcor.config import AgentSettings, LogLevelError, configure_logging, load

app = typer.Typer(help="Run the host agent of one hypervisor.", no_args_is_help=True)


@app.command()
def run(
    host_id: str = typer.Option(None, help="This hypervisor's id (Nova's binding:host_id)."),
    tunnel_ip: str = typer.Option(None, help="VTEP address (on an OVS bridge's LOCAL port)."),
    nats_url: str = typer.Option(None, help="NATS server URL."),
    nats_credentials: str = typer.Option(
        None, help="This host's nkey seed file (from `alcor hosts add`)."
    ),
    nats_tls_ca: str = typer.Option(None, help="CA of the NATS server's TLS certificate."),
    ovsdb: str = typer.Option(None, help="OVSDB connection, e.g. unix:/run/openvswitch/db.sock."),
    ovs_rundir: str = typer.Option(None, help="OVS_RUNDIR of this host's ovs-vswitchd."),
    datapath_type: str = typer.Option(None, help="system (kernel) or netdev (userspace)."),
    tunnel_type: str = typer.Option(None, help="vxlan or geneve."),
    integration_bridge: str = typer.Option(None, help="Integration bridge name."),
    bridge_mappings: str = typer.Option(
        None, help="Physical networks and their OVS bridges: physnet1:br-ex,physnet2:br-foo."
    ),
    gateway: bool = typer.Option(
        None, "--gateway/--no-gateway", help="Offer SNAT for routers (agent_mode dvr_snat)."
    ),
    availability_zone: str = typer.Option(
        None, help="The availability zone this host is in (Neutron's agent setting)."
    ),
    heartbeat_interval: float = typer.Option(None, help="Seconds between heartbeats."),
    log_level: str = typer.Option(
        None, help="debug, info, warning, error[,logger=level...], e.g. warning,alcor.agent=info"
    ),
    metrics_bind: str = typer.Option(
        None, help="host:port to serve Prometheus metrics on (default: off)."
    ),
    config: str = typer.Option(None, help="TOML config file (section [agent])."),
    rpc_timeout: float = typer.Option(10.0, help="Seconds to wait for an RPC reply."),
) -> None:
    """Program this host's Open vSwitch from the controller's goal state."""
    from alcor.agent.busypoll import BusyPollSelector
    from alcor.agent.main import Agent

    flags = {
        "host_id": host_id,
        "tunnel_ip": tunnel_ip,
        "nats_url": nats_url,
        "nats_credentials": nats_credentials,
        "nats_tls_ca": nats_tls_ca,
        "ovsdb": ovsdb,
        "ovs_rundir": ovs_rundir,
        "datapath_type": datapath_type,
        "tunnel_type": tunnel_type,
        "integration_bridge": integration_bridge,
        "bridge_mappings": bridge_mappings,
        "gateway": gateway,
        "availability_zone": availability_zone,
        "heartbeat_interval": heartbeat_interval,
        "log_level": log_level,
        "metrics_bind": metrics_bind,
    }
    settings = load(AgentSettings, flags=flags, config_file=config, section="agent")
    if not settings.host_id:
        import socket

        settings.host_id = socket.gethostname()
    try:
        configure_logging(settings.log_level, "%(asctime)s %(name)s %(levelname)s %(message)s")
    except LogLevelError as exc:
        raise typer.BadParameter(str(exc), param_hint="--log-level") from None
    poller = BusyPollSelector(settings.resolve_poll_window, settings.resolve_poll_cpu)
    with asyncio.Runner(loop_factory=poller.new_loop) as runner:
        runner.run(Agent(settings, rpc_timeout=rpc_timeout, poller=poller).run())
