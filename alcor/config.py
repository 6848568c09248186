"""Settings for every `alcor` command, resolved in one place.

Precedence is flags > `ALCOR_*` environment variables > config file (TOML) > defaults, the order
operators expect from OpenStack services and twelve-factor apps alike. Each settings class is
a dataclass: a field is one declaration, and its environment variable is `ALCOR_<FIELD>`
upper-cased (for example `database_url` -> `ALCOR_DATABASE_URL`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tomllib
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_CONFIG_FILE = Path("/etc/alcor/alcor.toml")
DEFAULT_STATE_DIR = Path(os.environ.get("ALCOR_STATE_DIR", "/var/lib/alcor"))


@dataclasses.dataclass
class ServerSettings:
    """Settings of `alcor server` (API, compiler and status intake)."""

    bind: str = "127.0.0.1:9696"
    database_url: str = ""  # empty: SQLite file in state_dir
    state_dir: str = str(DEFAULT_STATE_DIR)
    # empty: start and supervise an embedded nats-server; else one URL or, for a NATS
    # cluster, several separated by commas (the client fails over among them)
    nats_url: str = ""
    nats_port: int = 4222  # port of the embedded nats-server (loopback only)
    nats_credentials: str = ""  # nkey seed file for nats_url; the embedded NATS makes its own
    nats_tls_cert: str = ""  # PEM certificate and key: the embedded NATS requires TLS
    nats_tls_key: str = ""
    nats_tls_ca: str = ""  # PEM CA that signed the NATS server's certificate
    default_project: str = "admin"  # project of header-less (admin) requests in noauth mode
    # "noauth": trust X-Project-Id/X-Roles headers (development, the embedded demo; loopback
    # only unless `noauth_public`); "keystone": validate X-Auth-Token with Keystone.
    auth_strategy: str = "noauth"
    noauth_public: bool = False  # let noauth listen on a non-loopback address (unsafe)
    policy_file: str = ""  # an oslo.policy YAML/JSON file over Neutron's default rules
    keystone_url: str = ""  # Keystone's v3 endpoint (http://keystone:5000/v3)
    keystone_username: str = "neutron"  # the service user that validates tokens
    keystone_password: str = ""
    keystone_project: str = "service"
    keystone_user_domain: str = "Default"
    keystone_project_domain: str = "Default"
    token_cache_time: float = 300.0  # seconds a validation is reused (the revocation lag)
    base_mac: str = "fa:16:3e:00:00:00"
    vni_ranges: str = "1:16777215"  # "lo:hi[,lo:hi...]" for VXLAN segmentation ids
    # Physical networks flat networks may use ("physnet1,physnet2"), ML2's `flat_networks`:
    # "*" any name, empty: flat networks disabled.
    flat_networks: str = "*"
    max_page_size: int = 1000
    max_request_body_size: int = 114688  # bytes (oslo.middleware's default); past it 413
    max_bulk_request_body_size: int = 8 * 1024 * 1024  # bytes of a bulk create's body
    max_url_length: int = 16384  # bytes of a request's path and query string; past it 414
    max_filter_values: int = 500  # values of a list request's filters (each tag counts)
    # Seconds an idle keep-alive connection of a client stays open (Neutron's option and
    # default). Longer than any client's pool keeps one (httpx 5 s, HAProxy's idle server
    # connections 5 s), so the client always gives it up first: at uvicorn's 5 s, the server
    # closed connections just as clients sent a request on them, which the client saw reset.
    client_socket_timeout: int = 900
    workers: int = 1
    log_level: str = "warning"
    agent_down_time: float = 75.0  # seconds without heartbeat before a host is dead (Neutron)
    audit_interval: float = 30.0  # seconds between state audits (`southbound.auditor`); 0: off
    # Addresses on a network's subnets from which hosts learn its neighbours on demand, by
    # the first packet (`southbound.ondemand`); 0: every overlay network, -1: never.
    neighbor_on_demand_threshold: int = 10_000
    # host:port where agents may send their small resolves (a first packet's question) over
    # UDP rather than NATS (`alcor.southbound.protocol.direct`): an address the hosts reach,
    # port 0 for any free one. Empty: loopback with the embedded NATS (whose agents are on
    # this machine), else NATS only; "off": NATS only.
    resolve_direct: str = ""
    auto_migrate: bool = True  # create/upgrade an embedded SQLite database on start
    nova_url: str = ""  # Nova API base URL for network-vif-* events; empty: off (default)
    nova_token: str = ""  # X-Auth-Token sent with them (an admin token for Nova)
    nova_send_interval: float = 2.0  # batching window, as Neutron's send_events_interval
    # Default quotas per project (Neutron's [quotas] options); -1 = unlimited. The one
    # declaration of Neutron's quota keys: rbac_policy is reported as Neutron reports it
    # although nothing here creates one.
    quota_network: int = 100
    quota_subnet: int = 100
    quota_subnetpool: int = -1
    quota_port: int = 500
    quota_router: int = 10
    quota_floatingip: int = 50
    quota_rbac_policy: int = 10
    quota_security_group: int = 10
    quota_security_group_rule: int = 100

    def quota_defaults(self) -> dict[str, int]:
        """The `quota_*` settings by quota key."""
        return {
            f.name.removeprefix("quota_"): getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name.startswith("quota_")
        }

    def effective_database_url(self) -> str:
        """The SQLAlchemy URL to use: the configured one, or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.state_dir) / 'alcor.db'}"

    def direct_resolve_address(self) -> str:
        """Where to take resolves over UDP ("": nowhere), `resolve_direct` made explicit."""
        if self.resolve_direct == "off":
            return ""
        if not self.resolve_direct:
            return "" if self.nats_url else "127.0.0.1:0"
        try:
            split_address(self.resolve_direct)
        except ValueError:
            raise SettingError(
                f"resolve_direct {self.resolve_direct!r}: give host:port (an address the hosts "
                "reach; port 0: any free one), or off"
            ) from None
        return self.resolve_direct

    def host_port(self) -> tuple[str, int]:
        """`bind` split into host and port."""
        return split_address(self.bind, "127.0.0.1")


@dataclasses.dataclass
class AgentSettings:
    """Settings of `alcor agent` (one per hypervisor)."""

    host_id: str = ""  # empty: the machine's hostname
    tunnel_ip: str = ""
    nats_url: str = "nats://127.0.0.1:4222"  # or several, comma-separated (a NATS cluster)
    nats_credentials: str = ""  # this host's nkey seed file (`alcor hosts add`)
    nats_tls_ca: str = ""  # PEM CA that signed the NATS server's certificate
    ovsdb: str = "unix:/var/run/openvswitch/db.sock"
    ovs_rundir: str = "/var/run/openvswitch"
    datapath_type: str = "system"
    tunnel_type: str = "vxlan"
    integration_bridge: str = "br-int"
    # Physical networks this host reaches, and through which OVS bridge, as Neutron's OVS
    # agent: "physnet1:br-ex,physnet2:br-foo" (empty: overlays only).
    bridge_mappings: str = ""
    gateway: bool = False  # offer SNAT for routers (Neutron's agent_mode dvr_snat)
    availability_zone: str = "nova"  # this host's zone (Neutron's agents' default, "nova")
    heartbeat_interval: float = 10.0
    log_level: str = "warning"
    # Seconds a neighbour learnt on demand stays installed without traffic to it
    neighbor_idle_timeout: int = 300
    # Packet-ins per second a VM's misses may cause (on-demand neighbours; the rest dropped)
    miss_rate_limit: int = 1000
    # Seconds the agent's loop polls instead of sleeping while a resolve answer is due, and
    # the most of one CPU that polling may take (`alcor.agent.busypoll`); 0: it sleeps
    resolve_poll_window: float = 0.002
    resolve_poll_cpu: float = 0.05
    # Ask small resolves over the answering server's direct channel when it offers one
    # (`alcor.southbound.protocol.direct`), and how long to wait for its answer before
    # asking over NATS (which then stands in for the channel a while)
    resolve_direct: bool = True
    resolve_direct_timeout: float = 0.1
    # host:port serving the agent's Prometheus metrics (`alcor.agent.metrics`); empty: off
    metrics_bind: str = ""


def nats_servers(url: str) -> list[str]:
    """The NATS URLs of a `nats_url` setting: one server, or a cluster's members separated
    by commas; the client connects to one and fails over to the others (and to those the
    cluster announces)."""
    return [u.strip() for u in url.split(",") if u.strip()]


def _coerce(value: str, typ: Any) -> Any:
    if typ in (bool, "bool"):
        low = value.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"not a boolean: {value!r}")
    if typ in (int, "int"):
        return int(value)
    if typ in (float, "float"):
        return float(value)
    return value


def load(
    cls: type[T],
    flags: dict[str, Any] | None = None,
    config_file: str | Path | None = None,
    environ: typing.Mapping[str, str] | None = None,
    section: str | None = None,
) -> T:
    """Build `cls` from defaults, then the config file, the environment and the flags.

    `flags` holds only the options the user actually gave (None values are ignored).
    `section` names the TOML table to read (`[server]`, `[agent]`); top-level keys apply too.
    """
    environ = os.environ if environ is None else environ
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    path = Path(config_file or environ.get("ALCOR_CONFIG", "") or DEFAULT_CONFIG_FILE)
    if path.is_file():
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
        for key, val in doc.items():
            if key in fields:
                values[key] = val
        if section and isinstance(doc.get(section), dict):
            for key, val in doc[section].items():
                if key not in fields:
                    raise ValueError(f"{path}: unknown setting [{section}] {key}")
                values[key] = val
    elif config_file:
        raise FileNotFoundError(f"config file {config_file} does not exist")
    for name in fields:
        env_val = environ.get(f"ALCOR_{name.upper()}")
        if env_val is not None:
            values[name] = _coerce(env_val, hints[name])
    for name, val in (flags or {}).items():
        if val is not None:
            if name not in fields:
                raise ValueError(f"unknown setting {name}")
            values[name] = val
    return cls(**values)


def split_address(text: str, default_host: str = "") -> tuple[str, int]:
    """ "host:port" (an IPv6 host in brackets) as (host, port), the host `default_host` when
    the text has none; ValueError if it is no such address."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or default_host
    if not host or not port.isdecimal() or int(port) > 65535:
        raise ValueError(f"{text!r} is not host:port")
    return host, int(port)


class SettingError(ValueError):
    """A setting's value that cannot be used; the message says what to give instead."""


class LogLevelError(ValueError):
    """A `log_level` setting that names no level."""


def configure_logging(spec: str, fmt: str) -> str:
    """Apply a `log_level` setting: a level, then optionally `logger=level` pairs, e.g.
    "warning,alcor.agent.ondemand=debug" (one module's debug lines without every module's:
    the first-packet trace). Returns the base level, for libraries that take only one."""
    base, *pairs = [part.strip() for part in spec.split(",") if part.strip()] or ["warning"]
    levels = logging.getLevelNamesMapping()
    named: dict[str, str] = {}
    for pair in pairs:
        name, _, level = pair.partition("=")
        named[name.strip()] = level.strip().upper()
    for level in (base.upper(), *named.values()):
        if level not in levels:
            raise LogLevelError(
                f"log_level {spec!r}: {level!r} is not a level; use debug, info, warning or "
                "error, then optionally logger=level pairs, comma-separated"
            )
    logging.basicConfig(level=base.upper(), format=fmt)
    for name, level in named.items():
        logging.getLogger(name).setLevel(level)
    return base.lower()
