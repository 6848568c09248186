"""A "VM": a namespace whose eth0 is a veth plugged into a host's br-int the Nova/os-vif way.

Plugging writes exactly what Nova writes (`external_ids:iface-id`, `attached-mac`, `vm-uuid`,
`iface-status=active`) and nothing else: the agent must find the VIF through its OVSDB
monitor. The guest side turns TX checksum offload off (with OVS 3.1's userspace datapath,
CHECKSUM_PARTIAL packets from a veth leave with bad L4 checksums) and gets its address, MTU,
routes and DNS over DHCP from the agent, with busybox udhcpc and a hook script of our own:
no distribution hook ever runs, so the host's /etc/resolv.conf is never touched.
"""

from __future__ import annotations

import os
import shlex
import uuid
from dataclasses import dataclass

from alcor.lab import netns
from alcor.lab.host import Host
from alcor.lab.netns import run

HOOK = """#!/bin/sh
# udhcpc hook of the Alcor lab: configures only $interface and records the lease.
LEASE={lease}
case "$1" in
  deconfig)
    ip addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
    ip addr flush dev "$interface"
    ip addr add "$ip/$subnet" dev "$interface"
    if [ -n "$staticroutes" ]; then
      set -- $staticroutes
      while [ $# -ge 2 ]; do ip route replace "$1" via "$2" dev "$interface"; shift 2; done
    elif [ -n "$router" ]; then
      ip route replace default via "${{router%% *}}" dev "$interface"
    fi
    env | grep -E '^(ip|subnet|mask|router|dns|domain|mtu|staticroutes|lease|serverid)=' \
      > "$LEASE.tmp"
    mv "$LEASE.tmp" "$LEASE"
    ;;
esac
exit 0
"""


@dataclass
class Vm:
    """One VM namespace on `host`, with its Neutron port id and MAC."""

    name: str
    ns: str
    host: Host
    port_id: str
    mac: str
    dir: str
    vm_uuid: str = ""

    @property
    def tap(self) -> str:
        """Host-side device name, as Nova names it: tap + the first 11 chars of the port id."""
        return ("tap" + self.port_id)[:14]

    @property
    def lease_file(self) -> str:
        return f"{self.dir}/lease"

    def x(self, *args: str, check: bool = True, timeout: float = 60.0) -> str:
        return run(list(args), ns=self.ns, check=check, timeout=timeout)

    def create(self) -> None:
        """Namespace + veth; eth0 gets the port's MAC, tx offload off; not plugged yet."""
        os.makedirs(self.dir, exist_ok=True)
        self.vm_uuid = self.vm_uuid or str(uuid.uuid4())
        netns.add(self.ns)
        run(
            [
                *("ip", "-n", self.host.ns, "link", "add", self.tap, "type", "veth"),
                *("peer", "name", "eth0", "netns", self.ns),
            ]
        )
        netns.sh(
            f"ip link set eth0 address {self.mac} && ip link set eth0 up && "
            "ethtool -K eth0 tx off >/dev/null",
            ns=self.ns,
        )
        self.host.x("ip", "link", "set", self.tap, "up")
        self.host.guard(self.tap)

    def plug(self) -> None:
        """Add the VIF to br-int with Nova's external_ids (the agent notices by itself)."""
        self.host.vsctl(
            "--may-exist",
            "add-port",
            "br-int",
            self.tap,
            "--",
            "set",
            "Interface",
            self.tap,
            f"external_ids:iface-id={self.port_id}",
            f"external_ids:attached-mac={self.mac}",
            f"external_ids:vm-uuid={self.vm_uuid}",
            "external_ids:iface-status=active",
        )

    def unplug(self) -> None:
        self.host.vsctl("--if-exists", "del-port", "br-int", self.tap)

    def dhcp(self, attempts: int = 8) -> dict[str, str]:
        """Run udhcpc once (DISCOVER..ACK, configure, quit) and return the recorded lease."""
        hook = f"{self.dir}/udhcpc-hook.sh"
        with open(hook, "w") as fh:
            fh.write(HOOK.format(lease=shlex.quote(self.lease_file)))
        os.chmod(hook, 0o755)
        if os.path.exists(self.lease_file):
            os.unlink(self.lease_file)
        self.x(
            "busybox",
            "udhcpc",
            "-i",
            "eth0",
            "-f",
            "-q",
            "-n",
            "-t",
            str(attempts),
            "-T",
            "1",
            "-A",
            "1",
            "-s",
            hook,
            "-O",
            "staticroutes",
            "-O",
            "mtu",
            "-O",
            "dns",
            "-O",
            "domain",
            timeout=attempts * 3 + 10,
        )
        return self.lease()

    def lease(self) -> dict[str, str]:
        """The last lease udhcpc got (empty when none)."""
        try:
            with open(self.lease_file) as fh:
                return dict(line.rstrip("\n").split("=", 1) for line in fh if "=" in line)
        except OSError:
            return {}

    def ping(self, ip: str, count: int = 3, interval: float = 0.2, wait: float = 1.0) -> bool:
        out = self.x(
            "ping", "-c", str(count), "-i", str(interval), "-W", str(wait), ip, check=False
        )
        return f" {count} received" in out or ", 0% packet loss" in out
