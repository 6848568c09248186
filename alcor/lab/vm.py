"""A "VM": a namespace whose eth0 is a veth plugged into a host's br-int the Nova/os-vif way.

Plugging writes exactly what Nova writes (`external_ids:iface-id`, `attached-mac`, `vm-uuid`,
`iface-status=active`) and nothing else: the agent must find the VIF through its OVSDB
monitor. The guest side turns TX checksum offload off (with OVS 3.1's userspace datapath,
CHECKSUM_PARTIAL packets from a veth leave with bad L4 checksums) and gets its address, MTU,
routes and DNS over DHCP from the agent, with busybox udhcpc and a hook script of our own:
no distribution hook ever runs, so the host's /etc/resolv.conf is never touched.
IPv6 is off in the lab's namespaces until a test turns it on for a VM (`enable_ipv6`): then
the guest kernel solicits routers and configures SLAAC addresses from the agent's RAs, and
ISC dhclient (`dhcp6`, again with our own hook) asks the agent's DHCPv6 server.
"""

from __future__ import annotations

import os
import shlex
import time
import uuid
from dataclasses import dataclass

from alcor.lab import netns
from alcor.lab.host import Host
from alcor.lab.netns import run

MIGRATING = "mig0"  # the guest's NIC on a live migration's destination until it switches

HOOK = """#!/bin/sh
# udhcpc hook of the Alcor lab: configures only $interface and records the lease.
LEASE={lease}
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    [ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
    ip -4 addr flush dev "$interface"
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

HOOK6 = """#!/bin/sh
# dhclient -6 hook of the Alcor lab: configures only $interface and records what it got.
LEASE={lease}
case "$reason" in
  BOUND6|RENEW6|REBIND6|REBOOT6)
    [ -n "$new_ip6_address" ] && \\
      ip -6 addr replace "$new_ip6_address/$new_ip6_prefixlen" dev "$interface" nodad
    ;;
esac
case "$reason" in
  BOUND6|RENEW6|REBIND6|REBOOT6|INFORM6)
    env | grep -E '^(reason|new_ip6_address|new_ip6_prefixlen|new_dhcp6_[a-z_]+)=' \\
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

    def plug(self, host: Host | None = None) -> None:
        """Add the VIF to br-int (of `host`, default its own) with Nova's external_ids (the
        agent notices by itself)."""
        (host or self.host).vsctl(
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

    # -- live migration (what libvirt and os-vif do) -------------------------------------------
    def plug_at(self, dest: Host) -> None:
        """First half of a live migration, os-vif's part on the destination before the memory
        copy: a second VIF of the same port (same MAC, same iface-id) on `dest`'s br-int while
        the guest still runs here. Its guest end waits down, as a paused guest sends nothing."""
        run(
            [
                *("ip", "-n", dest.ns, "link", "add", self.tap, "type", "veth"),
                *("peer", "name", MIGRATING, "netns", self.ns),
            ]
        )
        netns.sh(
            f"ip link set {MIGRATING} address {self.mac} && "
            f"ethtool -K {MIGRATING} tx off >/dev/null",
            ns=self.ns,
        )
        dest.x("ip", "link", "set", self.tap, "up")
        dest.guard(self.tap)
        self.plug(dest)

    def switch_to(self, dest: Host) -> None:
        """Second half: the guest resumes on `dest` (the old NIC goes, the one plugged there
        comes up with the same addresses and routes and announces them, as QEMU announces a
        migrated guest), then the source's VIF is unplugged (Nova's clean-up there)."""
        addrs = [
            ln.split()[3] for ln in self.x("ip", "-4", "-o", "addr", "show", "eth0").splitlines()
        ]
        routes = [
            r
            for r in self.x("ip", "-4", "route", "show", "dev", "eth0").splitlines()
            if r and "proto kernel" not in r
        ]
        steps = ["ip link del eth0", f"ip link set {MIGRATING} name eth0", "ip link set eth0 up"]
        steps += [f"ip addr add {a} dev eth0" for a in addrs]
        steps += [f"ip route replace {r} dev eth0" for r in routes]
        netns.sh(" && ".join(steps), ns=self.ns)
        source, self.host = self.host, dest
        for addr in addrs:
            ip = addr.split("/")[0]
            self.x("busybox", "arping", "-U", "-c", "1", "-I", "eth0", ip, check=False)
        source.vsctl("--if-exists", "del-port", "br-int", self.tap)

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

    def lease(self, path: str = "") -> dict[str, str]:
        """The last lease udhcpc (or, with dhclient's lease `path`, DHCPv6) got; empty when
        none."""
        try:
            with open(path or self.lease_file) as fh:
                return dict(line.rstrip("\n").split("=", 1) for line in fh if "=" in line)
        except OSError:
            return {}

    # -- IPv6 --------------------------------------------------------------------------------
    def enable_ipv6(self) -> None:
        """IPv6 on for eth0, as a cloud image has it: link-local address, router
        solicitations, SLAAC from router advertisements."""
        netns.sh(
            "sysctl -qw net.ipv6.conf.eth0.accept_ra=1 net.ipv6.conf.eth0.autoconf=1 "
            "net.ipv6.conf.eth0.disable_ipv6=0",
            ns=self.ns,
        )

    def addresses6(self, scope: str = "global") -> list[str]:
        """eth0's IPv6 addresses of `scope` that passed duplicate address detection."""
        out = self.x("ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", scope)
        return [ln.split()[3].split("/")[0] for ln in out.splitlines() if "tentative" not in ln]

    def default_route6(self) -> str:
        return self.x("ip", "-6", "route", "show", "default").strip()

    def dhcp6(self, stateless: bool = False, timeout: float = 30.0) -> dict[str, str]:
        """One DHCPv6 exchange with ISC dhclient (stateful: SOLICIT..REPLY, the address
        configured; `stateless`: INFORMATION-REQUEST); returns what it recorded. dhclient
        stays in the background to renew, and dies with the VM."""
        hook = f"{self.dir}/dhclient6-hook.sh"
        lease = f"{self.dir}/lease6"
        with open(hook, "w") as fh:
            fh.write(HOOK6.format(lease=shlex.quote(lease)))
        os.chmod(hook, 0o755)
        if os.path.exists(lease):
            os.unlink(lease)
        deadline = time.monotonic() + timeout
        while not self.addresses6("link"):  # dhclient binds to it once DAD passed
            if time.monotonic() > deadline:
                raise netns.LabError(f"{self.name}: no link-local address")
            time.sleep(0.1)
        self.x(
            "timeout",
            str(int(timeout)),
            "dhclient",
            "-6",
            "-v",
            *(("-S",) if stateless else ()),
            "-1",
            "-pf",
            f"{self.dir}/dhclient6.pid",
            "-lf",
            f"{self.dir}/dhclient6.leases",
            "-sf",
            hook,
            "eth0",
            timeout=timeout + 10,
        )
        return self.lease(lease)

    def ping(self, ip: str, count: int = 3, interval: float = 0.2, wait: float = 1.0) -> bool:
        out = self.x(
            "ping", "-c", str(count), "-i", str(interval), "-W", str(wait), ip, check=False
        )
        return f" {count} received" in out or ", 0% packet loss" in out
