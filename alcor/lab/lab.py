"""The lab: N simulated hypervisors on one underlay, their agents, and VMs.

State (hosts, VMs, pids) is written to `<state_dir>/state.json` after every change, so
`alcor lab vm add` and `alcor lab down` work from another process and `down` also cleans up
after a crash. Everything is named with the lab's prefix (namespaces `<prefix>-...`, nothing in
the root namespace), which lets several labs, and tests, run side by side.

Addresses: the underlay is 198.18.0.0/15 inside the lab's own underlay namespace (a Linux
bridge), host i has VTEP 198.18.0.0 + i; tenant addresses exist only inside VM namespaces.

The outside world: a second Linux bridge in its own namespace (`<prefix>-xseg`) is the physical
network `external`; every host reaches it through its `br-ex` (agents run with
`bridge_mappings=external:br-ex`), and the namespace `<prefix>-ext` stands for the internet
on it, holding 203.0.113.1/24 (DESIGN §5: the external network's gateway for a flat network
with subnet 203.0.113.0/24).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alcor.lab import netns
from alcor.lab.host import EXTERNAL_BRIDGE_ON_HOSTS, EXTERNAL_PHYSNET, Host
from alcor.lab.netns import LabError, run
from alcor.lab.server_process import free_port
from alcor.lab.vm import Vm

UNDERLAY_BASE = ipaddress.IPv4Address("198.18.0.0")
UNDERLAY_BRIDGE = "ulbr"
EXTERNAL_BRIDGE = "exbr"  # the external segment, in the `<prefix>-xseg` namespace
EXTERNAL_ADDRESS = "203.0.113.1/24"  # the "internet" namespace on it
STATE_ROOT = Path(os.environ.get("ALCOR_LAB_DIR", "/tmp/alcor-lab"))

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class Lab:
    """Owns every namespace, daemon and agent it creates; `down()` removes them all."""

    prefix: str
    nats_url: str = ""
    state_dir: Path = field(default_factory=Path)
    hosts: dict[str, Host] = field(default_factory=dict)
    vms: dict[str, Vm] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.prefix or len(self.prefix) > 8 or not self.prefix.isalnum():
            raise ValueError("prefix: 1-8 letters or digits (device names stay within 15)")
        if self.state_dir == Path():
            self.state_dir = STATE_ROOT / self.prefix

    @property
    def underlay_ns(self) -> str:
        return f"{self.prefix}-ul"

    @property
    def segment_ns(self) -> str:
        """The external segment's namespace (a Linux bridge, as the underlay)."""
        return f"{self.prefix}-xseg"

    @property
    def external_ns(self) -> str:
        """The namespace standing for the internet on the external segment."""
        return f"{self.prefix}-ext"

    def external(self) -> dict[str, str] | None:
        """What `lab status` reports of the outside world (None when it is not there)."""
        if self.external_ns not in netns.names(self.prefix):
            return None
        return {
            "namespace": self.external_ns,
            "address": EXTERNAL_ADDRESS,
            "physical_network": EXTERNAL_PHYSNET,
            "bridge": EXTERNAL_BRIDGE_ON_HOSTS,
        }

    # -- persistence -------------------------------------------------------------------------
    def save(self) -> None:
        doc = {
            "prefix": self.prefix,
            "nats_url": self.nats_url,
            "hosts": {
                n: {"ns": h.ns, "dir": h.dir, "tunnel_ip": h.tunnel_ip, "agent_args": h.agent_args}
                for n, h in self.hosts.items()
            },
            "vms": {
                n: {
                    "ns": v.ns,
                    "host": v.host.name,
                    "port_id": v.port_id,
                    "mac": v.mac,
                    "dir": v.dir,
                    "vm_uuid": v.vm_uuid,
                }
                for n, v in self.vms.items()
            },
        }
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_dir / "state.json.tmp"
        tmp.write_text(json.dumps(doc, indent=1))
        tmp.replace(self.state_dir / "state.json")

    @classmethod
    def load(cls, prefix: str) -> Lab:
        """The lab `prefix` as recorded in its state dir (empty when never built)."""
        lab = cls(prefix)
        path = lab.state_dir / "state.json"
        if not path.is_file():
            return lab
        doc = json.loads(path.read_text())
        lab.nats_url = doc.get("nats_url", "")
        for name, h in doc["hosts"].items():
            lab.hosts[name] = Host(
                name, h["ns"], h["dir"], h["tunnel_ip"], agent_args=h["agent_args"]
            )
        for name, v in doc["vms"].items():
            lab.vms[name] = Vm(
                name, v["ns"], lab.hosts[v["host"]], v["port_id"], v["mac"], v["dir"], v["vm_uuid"]
            )
        return lab

    # -- building ----------------------------------------------------------------------------
    def up(
        self,
        hosts: int,
        nats_url: str,
        progress: Progress = _quiet,
        agent_args: list[str] | None = None,
        start_agents: bool = True,
        credentials: Callable[[str], Path] | None = None,
    ) -> Lab:
        """Build the underlay and `hosts` hypervisors, seed tunnel neighbours, start agents.

        `credentials(host)`: the seed file of `host`'s southbound credentials, for a NATS
        that requires them (`AlcorServer.credentials` issues them on an embedded one)."""
        self.nats_url = nats_url
        if netns.names(self.prefix):
            raise LabError(
                f"lab {self.prefix} already exists: `alcor lab down --prefix {self.prefix}`"
            )
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            netns.add(self.underlay_ns)
            run(["ip", "-n", self.underlay_ns, "link", "add", UNDERLAY_BRIDGE, "type", "bridge"])
            run(["ip", "-n", self.underlay_ns, "link", "set", UNDERLAY_BRIDGE, "up"])
            self._build_outside()
            progress("underlay")
            for i in range(1, hosts + 1):
                name = f"h{i}"
                creds = ["--nats-credentials", str(credentials(name))] if credentials else []
                exported = ["--metrics-bind", f"127.0.0.1:{free_port()}"]
                self.add_host(name, agent_args=[*(agent_args or []), *creds, *exported])
                progress(f"host h{i}")
            self.seed_tunnel_neighbors()
            if start_agents:
                for host in self.hosts.values():
                    host.start_agent(nats_url)
                progress("agents")
            self.save()
        except BaseException:
            self.down()
            raise
        return self

    def add_host(self, name: str, agent_args: list[str] | None = None) -> Host:
        index = len(self.hosts) + 1
        host = Host(
            name,
            f"{self.prefix}-{name}",
            str(self.state_dir / name),
            str(UNDERLAY_BASE + index),
            agent_args=list(agent_args or []),
        )
        self.hosts[name] = host
        self.save()
        host.start_ovs()
        host.connect_underlay(self.underlay_ns, UNDERLAY_BRIDGE)
        host.connect_external(self.segment_ns, EXTERNAL_BRIDGE)
        return host

    def _build_outside(self) -> None:
        """The external segment and the "internet" namespace on it (DESIGN §5 addresses).

        The internet's veth gets `tx off` like a VM's (pitfall P2): its frames reach OVS on
        the hosts' br-ex, which would pass on a CHECKSUM_PARTIAL TCP/UDP checksum unfilled."""
        xs, ext = self.segment_ns, self.external_ns
        netns.add(xs)
        run(["ip", "-n", xs, "link", "add", EXTERNAL_BRIDGE, "type", "bridge"])
        run(["ip", "-n", xs, "link", "set", EXTERNAL_BRIDGE, "up"])
        netns.add(ext)
        run(["ip", "-n", ext, "link", "add", "eth0", "type", "veth", "peer", "name", "ex-inet"])
        run(["ip", "-n", ext, "link", "set", "ex-inet", "netns", xs])
        run(["ip", "-n", xs, "link", "set", "ex-inet", "master", EXTERNAL_BRIDGE, "up"])
        run(["ip", "-n", ext, "addr", "add", EXTERNAL_ADDRESS, "dev", "eth0"])
        run(["ip", "-n", ext, "link", "set", "eth0", "up"])
        run(["ethtool", "-K", "eth0", "tx", "off"], ns=ext)

    def seed_tunnel_neighbors(self) -> None:
        macs = {name: h.phy_mac() for name, h in self.hosts.items()}
        for name, host in self.hosts.items():
            for other, peer in self.hosts.items():
                if other != name:
                    host.seed_tunnel_neighbor(peer.tunnel_ip, macs[other])

    def wait_bridge(self, host: Host, timeout: float = 30.0) -> None:
        """Wait until the agent of `host` has created br-int (VIFs are plugged there)."""
        deadline = time.monotonic() + timeout
        while not self._bridge_exists(host):
            if time.monotonic() > deadline:
                raise LabError(f"br-int did not appear on {host.name}: is its agent running?")
            time.sleep(0.1)

    @staticmethod
    def _bridge_exists(host: Host) -> bool:
        cmd = ["ovs-vsctl", "--timeout=5", f"--db={host.db}", "br-exists", "br-int"]
        return subprocess.run(cmd, capture_output=True).returncode == 0

    def add_vm(
        self,
        host: str,
        port_id: str,
        mac: str,
        name: str | None = None,
        plug: bool = True,
        dhcp: bool = True,
    ) -> Vm:
        """Create a VM on `host` with Neutron port `port_id`, plug it, and run DHCP."""
        name = name or f"vm{len(self.vms) + 1}"
        if name in self.vms:
            raise LabError(f"VM {name} exists")
        h = self.hosts[host]
        vm = Vm(name, f"{self.prefix}-{name}", h, port_id, mac.lower(), str(self.state_dir / name))
        self.vms[name] = vm
        self.save()
        vm.create()
        if plug:
            self.wait_bridge(h)
            vm.plug()
        if dhcp:
            vm.dhcp()
        self.save()
        return vm

    def remove_vm(self, name: str) -> None:
        vm = self.vms.pop(name)
        vm.unplug()
        netns.kill(netns.pids_in(vm.ns))
        netns.delete(vm.ns)
        self.host_delete_link(vm)
        shutil.rmtree(vm.dir, ignore_errors=True)
        self.save()

    @staticmethod
    def host_delete_link(vm: Vm) -> None:
        run(["ip", "-n", vm.host.ns, "link", "del", vm.tap], check=False)

    # -- teardown ----------------------------------------------------------------------------
    def down(self) -> None:
        """Remove everything: agents, OVS daemons, processes in our namespaces, namespaces."""
        pidfiles = {h.agent_pidfile for h in self.hosts.values()}
        pidfiles.update(str(p) for p in self.state_dir.glob("*/agent.pid"))
        agents = [netns.read_pid(p) for p in pidfiles]
        netns.kill([p for p in agents if p is not None and netns.alive(p)])
        daemons = [p for h in self.hosts.values() for p in h.daemon_pids()]
        netns.kill(daemons + netns.pids_in_any(netns.names(self.prefix)))
        netns.delete_all(netns.names(self.prefix))
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self.hosts.clear()
        self.vms.clear()
