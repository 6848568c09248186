"""The packets of one probe as the filters at either end see them.

A connection is the forward packet and its reply. Security groups are stateful (the reply is
an established connection), network ACLs are not: a reply must pass them as a packet of its
own, going the other way, with its ports swapped and, for ICMP, an echo reply. The remote
address a filter compares is the far end's as this end sees it, which NAT on the way (floating
IP, SNAT) does not change for the port: translation happens beyond it.
"""

from __future__ import annotations

from typing import NamedTuple

TCP, UDP, ICMP = 6, 17, 1
PROTOCOL_NAMES = {"tcp": TCP, "udp": UDP, "icmp": ICMP}
ECHO_REQUEST, ECHO_REPLY = 8, 0
# The ports a client's kernel picks (Linux's ip_local_port_range default): a stateless rule
# lets a reply through for sure only when it covers all of them.
EPHEMERAL = (32768, 60999)


class Packet(NamedTuple):
    """One IPv4 packet at a port's filter: its protocol, the far end's address, and either
    the destination port range it may carry (a reply's is the client's unknown ephemeral
    port) or its ICMP type."""

    protocol: int
    remote: str
    ports: tuple[int, int] | None = None
    icmp_type: int | None = None

    def describe(self) -> str:
        name = {TCP: "tcp", UDP: "udp", ICMP: "icmp"}.get(self.protocol, str(self.protocol))
        if self.icmp_type is not None:
            what = "echo request" if self.icmp_type == ECHO_REQUEST else "echo reply"
            return f"icmp {what} with {self.remote}"
        lo, hi = self.ports or (0, 0)
        port = str(lo) if lo == hi else f"{lo}-{hi} (the client's port)"
        return f"{name} to port {port} with {self.remote}"


def forward(protocol: int, port: int | None, remote: str) -> Packet:
    if protocol == ICMP:
        return Packet(protocol, remote, icmp_type=ECHO_REQUEST)
    return Packet(protocol, remote, ports=(port, port) if port else None)


def reply(protocol: int, remote: str) -> Packet:
    if protocol == ICMP:
        return Packet(protocol, remote, icmp_type=ECHO_REPLY)
    return Packet(protocol, remote, ports=EPHEMERAL)
