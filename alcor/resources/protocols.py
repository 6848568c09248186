"""IP protocols and ports as security group rules and network ACL rules name them.

Shared by both kinds' declarations and rules, so neither imports the other's. Names and
numbers are neutron-lib's (`constants.IP_PROTOCOL_MAP`); a protocol is stored as Neutron
stores it (a known name in lower case, or a number 0-255 as text) and compared by number.
"""

from __future__ import annotations

from typing import Any

from alcor import errors
from alcor.resources import kinds

# IANA numbers of the protocol names Neutron accepts.
PROTOCOLS = {
    "ah": 51,
    "dccp": 33,
    "egp": 8,
    "esp": 50,
    "gre": 47,
    "hopopt": 0,
    "icmp": 1,
    "igmp": 2,
    "ip": 0,
    "ipip": 4,
    "ipv6-encap": 41,
    "ipv6-frag": 44,
    "ipv6-icmp": 58,
    "icmpv6": 58,
    "ipv6-nonxt": 59,
    "ipv6-opts": 60,
    "ipv6-route": 43,
    "ospf": 89,
    "pgm": 113,
    "rsvp": 46,
    "sctp": 132,
    "tcp": 6,
    "udp": 17,
    "udplite": 136,
    "vrrp": 112,
}
PORT_PROTOCOLS = {6, 17, 33, 132, 136}  # tcp, udp, dccp, sctp, udplite
ICMP_PROTOCOLS = {1, 58}
IPV6_ONLY_PROTOCOLS = {41, 43, 44, 58, 59, 60}


class Protocol(kinds.Str):
    """A protocol as a client may give it: a name, a number as text, or a JSON integer
    (Neutron accepts `"protocol": 17`); kept as text, canonicalised by `canonical`."""

    def __init__(self) -> None:
        super().__init__(40)
        self.json_schema = {"anyOf": [{"type": "string", "maxLength": 40}, {"type": "integer"}]}

    def check(self, name: str, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return super().check(name, value)


class PortNumber(kinds.Int):
    """A port range bound: 0-65535, refused with Neutron's SecurityGroupInvalidPortValue."""

    def __init__(self) -> None:
        super().__init__(0, 65535)

    def check(self, name: str, value: Any) -> Any:
        try:
            return super().check(name, value)
        except errors.InvalidInput:
            raise errors.SecurityGroupInvalidPortValue(port=value) from None


def number(protocol: str | None) -> int | None:
    """A stored protocol ('tcp', '6', None) as its IANA number (None = any)."""
    if protocol is None:
        return None
    return PROTOCOLS[protocol] if protocol in PROTOCOLS else int(protocol)


def canonical(value: str | None, ethertype: str) -> str | None:
    """Neutron's protocol conversion: a known name (lower case) or a number 0-255 as text;
    'any' means any; legacy IPv6 ICMP spellings become 'ipv6-icmp' / '58'."""
    if value is None or value.lower() == "any":
        return None
    text = value.lower()
    if text.isdecimal() and 0 <= int(text) <= 255:
        text = str(int(text))
    elif text not in PROTOCOLS:
        raise errors.SecurityGroupRuleInvalidProtocol(protocol=value, values=sorted(PROTOCOLS))
    if ethertype == "IPv6":
        if text in ("icmp", "icmpv6"):
            text = "ipv6-icmp"
        elif text == "1":
            text = "58"
    return text
