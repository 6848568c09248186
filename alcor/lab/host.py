"""One simulated hypervisor: a netns with its own ovsdb-server + ovs-vswitchd (netdev).

Layout (see docs/dataplane): the underlay NIC `ul0` is a veth into the lab's underlay
bridge; `br-phy` (standalone, NORMAL) holds ul0 and carries the VTEP address on its LOCAL
port, which is what userspace tunnelling needs (the IP on a plain interface does not work).
The external NIC `ex0` is a veth into the lab's external segment, on `br-ex` (standalone,
no address: the host itself never speaks there), which the agent patches to br-int as the
physical network `external` (`--bridge-mappings external:br-ex`).
br-int and the tunnel port are the agent's business; the lab only starts the agent process
(in the root namespace: it talks to this host's OVS through the unix sockets in `dir`).
Every OVS-attached veth gets an nftables netdev ingress drop chain: with the netdev datapath
the host kernel would otherwise also receive, and answer, frames that belong to OVS.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field

from alcor.lab import netns
from alcor.lab.netns import run

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
GUARD_TABLE = "alcorguard"
EXTERNAL_PHYSNET = "external"
EXTERNAL_BRIDGE_ON_HOSTS = "br-ex"


@dataclass
class Host:
    """A simulated hypervisor; `dir` holds its OVS db, sockets, logs and pidfiles."""

    name: str
    ns: str
    dir: str
    tunnel_ip: str
    prefixlen: int = 15
    agent_args: list[str] = field(default_factory=list)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    # -- OVS access --------------------------------------------------------------------------
    @property
    def db(self) -> str:
        return f"unix:{self.dir}/db.sock"

    def mgmt(self, bridge: str = "br-int") -> str:
        return f"unix:{self.dir}/{bridge}.mgmt"

    def vsctl(self, *args: str, check: bool = True) -> str:
        return run(["ovs-vsctl", "--timeout=20", f"--db={self.db}", *args], check=check)

    def ofctl(self, *args: str, check: bool = True) -> str:
        return run(["ovs-ofctl", "-O", "OpenFlow14", *args], check=check)

    def appctl(self, *args: str, check: bool = True) -> str:
        return run(["ovs-appctl", "-t", f"{self.dir}/ovs-vswitchd.ctl", *args], check=check)

    def dump_flows(self, spec: str = "") -> list[str]:
        """br-int flows (one line each, header lines dropped)."""
        out = self.ofctl("dump-flows", self.mgmt(), *([spec] if spec else []))
        return [line.strip() for line in out.splitlines() if "actions=" in line]

    def x(self, *args: str, check: bool = True) -> str:
        return run(list(args), ns=self.ns, check=check)

    def guard(self, dev: str) -> None:
        """Drop kernel ingress on an OVS-attached veth (OVS still reads it via AF_PACKET)."""
        self.x(
            "nft",
            f"add chain netdev {GUARD_TABLE} in_{dev} "
            f"{{ type filter hook ingress device {dev} priority 0; policy drop; }}",
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def start_ovs(self) -> None:
        os.makedirs(self.dir, exist_ok=True)
        netns.add(self.ns)
        self.x("nft", "add", "table", "netdev", GUARD_TABLE)
        conf = f"{self.dir}/conf.db"
        if os.path.exists(conf):
            os.unlink(conf)
        run(["ovsdb-tool", "create", conf, SCHEMA])
        env = [
            "env",
            f"OVS_RUNDIR={self.dir}",
            f"OVS_LOGDIR={self.dir}",
            f"OVS_DBDIR={self.dir}",
            f"OVS_SYSCONFDIR={self.dir}",
        ]
        common = ["--detach", "--no-chdir"]
        self.x(
            *env,
            "ovsdb-server",
            conf,
            f"--remote=punix:{self.dir}/db.sock",
            f"--pidfile={self.dir}/ovsdb-server.pid",
            f"--unixctl={self.dir}/ovsdb-server.ctl",
            f"--log-file={self.dir}/ovsdb-server.log",
            *common,
        )
        # One handler/revalidator thread each: many vswitchds share two cores here.
        self.vsctl(
            "--no-wait",
            "init",
            "--",
            "set",
            "Open_vSwitch",
            ".",
            "other_config:n-handler-threads=1",
            "other_config:n-revalidator-threads=1",
        )
        self.x(
            *env,
            "ovs-vswitchd",
            self.db,
            f"--pidfile={self.dir}/ovs-vswitchd.pid",
            f"--unixctl={self.dir}/ovs-vswitchd.ctl",
            f"--log-file={self.dir}/ovs-vswitchd.log",
            *common,
        )

    def connect_underlay(self, underlay_ns: str, underlay_bridge: str) -> None:
        """ul0 (here, on br-phy) <-> ul-<name> (on the underlay bridge); VTEP on br-phy."""
        peer = f"ul-{self.name}"
        run(
            [
                *("ip", "-n", self.ns, "link", "add", "ul0", "type", "veth"),
                *("peer", "name", peer, "netns", underlay_ns),
            ]
        )
        run(["ip", "-n", underlay_ns, "link", "set", peer, "master", underlay_bridge, "up"])
        self.x("ip", "link", "set", "ul0", "up")
        self.guard("ul0")
        self.vsctl(
            "--may-exist",
            "add-br",
            "br-phy",
            "--",
            "set",
            "bridge",
            "br-phy",
            "datapath_type=netdev",
            "fail_mode=standalone",
            "--",
            "--may-exist",
            "add-port",
            "br-phy",
            "ul0",
        )
        self.x("ip", "addr", "add", f"{self.tunnel_ip}/{self.prefixlen}", "dev", "br-phy")
        self.x("ip", "link", "set", "br-phy", "up")

    def connect_external(self, segment_ns: str, segment_bridge: str) -> None:
        """ex0 (here, on br-ex) <-> ex-<name> (on the external segment's bridge).

        br-ex is made here because the NIC must be plugged into it; the agent then finds it
        and adds only its patch port (as on a real host, where the operator made br-ex)."""
        peer = f"ex-{self.name}"
        run(
            [
                *("ip", "-n", self.ns, "link", "add", "ex0", "type", "veth"),
                *("peer", "name", peer, "netns", segment_ns),
            ]
        )
        run(["ip", "-n", segment_ns, "link", "set", peer, "master", segment_bridge, "up"])
        self.x("ip", "link", "set", "ex0", "up")
        self.guard("ex0")
        br = EXTERNAL_BRIDGE_ON_HOSTS
        self.vsctl(
            *("--may-exist", "add-br", br, "--", "set", "bridge", br, "datapath_type=netdev"),
            *("--", "--may-exist", "add-port", br, "ex0"),
        )

    def phy_mac(self) -> str:
        out = self.x("cat", "/sys/class/net/br-phy/address")
        return out.strip()

    def seed_tunnel_neighbor(self, ip: str, mac: str) -> None:
        """Pre-set OVS's tunnel neighbour cache so the first overlay packets are not lost."""
        self.appctl("tnl/neigh/set", "br-phy", ip, mac)

    # -- the agent ---------------------------------------------------------------------------
    @property
    def metrics_url(self) -> str | None:
        """Where the agent serves its metrics (the lab gives each agent a port), if anywhere."""
        args = self.agent_args
        if "--metrics-bind" not in args:
            return None
        return f"http://{args[args.index('--metrics-bind') + 1]}/metrics"

    @property
    def agent_pidfile(self) -> str:
        return f"{self.dir}/agent.pid"

    @property
    def agent_log(self) -> str:
        return f"{self.dir}/agent.log"

    def agent_command(self, nats_url: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "alcor",
            "agent",
            "run",
            "--host-id",
            self.name,
            "--tunnel-ip",
            self.tunnel_ip,
            "--nats-url",
            nats_url,
            "--ovsdb",
            self.db,
            "--ovs-rundir",
            self.dir,
            "--datapath-type",
            "netdev",
            "--bridge-mappings",
            f"{EXTERNAL_PHYSNET}:{EXTERNAL_BRIDGE_ON_HOSTS}",
            "--gateway",
            *self.agent_args,
        ]

    def start_agent(self, nats_url: str) -> int:
        """Spawn `alcor agent run` for this host (own session, log in `dir`); returns the pid."""
        env = {**os.environ, "ALCOR_CONFIG": "/nonexistent"}  # lab agents: flags only
        with open(self.agent_log, "ab") as log:
            proc = subprocess.Popen(
                self.agent_command(nats_url),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        self._proc = proc
        with open(self.agent_pidfile, "w") as fh:
            fh.write(str(proc.pid))
        return proc.pid

    def agent_pid(self) -> int | None:
        pid = netns.read_pid(self.agent_pidfile)
        return pid if pid is not None and netns.alive(pid) else None

    def stop_agent(self, hard: bool = False) -> None:
        """SIGTERM (or SIGKILL when `hard`, as a crash would) the agent process."""
        pid = self.agent_pid()
        if pid is None:
            return
        if hard:
            os.kill(pid, signal.SIGKILL)
        else:
            netns.kill([pid])
        if self._proc is not None and self._proc.pid == pid:
            self._proc.wait(10)
        else:
            netns.kill([pid])

    def daemon_pids(self) -> list[int]:
        pids = [netns.read_pid(f"{self.dir}/{d}.pid") for d in ("ovs-vswitchd", "ovsdb-server")]
        return [p for p in pids if p is not None]
