"""Network ACLs and security groups applied to one packet, as the agent's tables apply them
(`alcor/agent/acl.py`, `alcor/agent/security.py`), over the goal-state messages the hosts get.

ACL: a direction's rules lowest number first, the first match decides, an IP packet matching
none is dropped. Security groups: any rule of any of the port's groups in the direction
admits the packet, none drops it; remote groups match their bound members' addresses. Both
match a rule's port range against the destination port; a packet whose port is one of a range
(a reply to the client's ephemeral port) matches only a rule covering the whole range.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from alcor.reachability.packets import Packet
from alcor.resources.protocols import PORT_PROTOCOLS
from alcor.southbound.protocol import goalstate_pb2 as pb


class Decision(NamedTuple):
    """A filter's answer: allowed or not, why, and the rule that decided (None: a default)."""

    allowed: bool
    why: str
    rule: dict[str, Any] | None = None


def _in_prefix(address: str, prefix: str) -> bool:
    if not prefix:
        return True
    return ipaddress.ip_address(address) in ipaddress.ip_network(prefix, strict=False)


def _ports_match(lo: int, hi: int, packet: Packet) -> bool:
    if not lo and not hi:
        return True  # no range: every port
    if packet.ports is None:
        return False
    return lo <= packet.ports[0] and packet.ports[1] <= (hi or lo)


def _l4_match(
    protocol: str, lo: int, hi: int, icmp: tuple[int | None, int | None], p: Packet
) -> bool:
    if protocol and int(protocol) != p.protocol:
        return False
    if p.protocol in PORT_PROTOCOLS and protocol:
        return _ports_match(lo, hi, p)
    if p.icmp_type is not None and protocol:
        icmp_type, icmp_code = icmp
        return (icmp_type is None or icmp_type == p.icmp_type) and icmp_code in (None, 0)
    return True


def acl_rule_dict(rule: pb.NetworkAclRuleState) -> dict[str, Any]:
    out: dict[str, Any] = {
        "number": rule.number,
        "direction": rule.direction,
        "action": rule.action,
        "protocol": rule.protocol or None,
        "ip_prefix": rule.ip_prefix or None,
    }
    if rule.port_range_min or rule.port_range_max:
        out["port_range"] = [rule.port_range_min, rule.port_range_max or rule.port_range_min]
    if rule.HasField("icmp_type"):
        out["icmp_type"] = rule.icmp_type
    return out


def network_acl(acl: pb.NetworkAclState, direction: str, packet: Packet) -> Decision:
    """The ACL's verdict on `packet` leaving (egress) or reaching (ingress) its port."""
    rules = sorted(
        (r for r in acl.rules if r.direction == direction and r.ethertype == "IPv4"),
        key=lambda r: r.number,
    )
    for rule in rules:
        icmp = (
            rule.icmp_type if rule.HasField("icmp_type") else None,
            rule.icmp_code if rule.HasField("icmp_code") else None,
        )
        if _in_prefix(packet.remote, rule.ip_prefix) and _l4_match(
            rule.protocol, rule.port_range_min, rule.port_range_max, icmp, packet
        ):
            verb = "allows" if rule.action == "allow" else "denies"
            return Decision(
                rule.action == "allow", f"rule {rule.number} {verb} it", acl_rule_dict(rule)
            )
    return Decision(False, f"no {direction} rule matches (an ACL drops unmatched IP)")


def sg_rule_dict(group_id: str, rule: pb.SecurityGroupRuleState) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": rule.id,
        "security_group_id": group_id,
        "direction": rule.direction,
        "protocol": rule.protocol or None,
        "remote_ip_prefix": rule.remote_ip_prefix or None,
        "remote_group_id": rule.remote_group_id or None,
    }
    if rule.port_range_min or rule.port_range_max:
        out["port_range"] = [rule.port_range_min, rule.port_range_max]
    return out


def security_groups(
    groups: Iterable[pb.SecurityGroupState],
    members: Mapping[str, frozenset[str]],
    direction: str,
    packet: Packet,
) -> Decision:
    """The port's groups' verdict: the first rule (in group, then rule order) that admits
    `packet`; `members` holds the bound members' addresses of every remote group named."""
    held = list(groups)
    for group in held:
        for rule in group.rules:
            if rule.direction != direction or rule.ethertype != "IPv4":
                continue
            if rule.remote_group_id and packet.remote not in members.get(
                rule.remote_group_id, frozenset()
            ):
                continue
            icmp = (
                rule.icmp_type if rule.HasField("icmp_type") else None,
                rule.icmp_code if rule.HasField("icmp_code") else None,
            )
            if _in_prefix(packet.remote, rule.remote_ip_prefix) and _l4_match(
                rule.protocol, rule.port_range_min, rule.port_range_max, icmp, packet
            ):
                return Decision(True, "a rule admits it", sg_rule_dict(group.id, rule))
    names = ", ".join(g.id for g in held) or "none"
    return Decision(False, f"no {direction} rule of its groups ({names}) admits it")
