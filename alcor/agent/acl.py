"""Network ACLs on a host: stateless numbered rules as pure functions to `Flow`s.

The API's model (`alcor-network-acl`) is a VPC network ACL on a subnet; here it is enforced at
the smallest granularity, on every packet leaving (table 15) or reaching (table 55) each local
VIF whose ACL it is, so traffic between two ports of one subnet is filtered too (at the
sender's egress and at the receiver's ingress), before the security groups (20/60). Which
ACL a port has is the server's answer (the port's own, else its subnet's, else its network's
default); this module takes it as given, one ACL per port.

Semantics: a direction's rules are tried lowest number first and the first match decides:
allow continues to the security groups, deny drops; an IP packet matching no rule is
dropped. Stateless: a reply is a packet like any other. Not filtered: non-IP (ARP; port
security in table 10 already checked what a port sends), and ports without port security --
as for security groups, Neutron's `port_security_enabled=False` means "no filtering at this
port" (routers, NFV appliances forwarding others' addresses, where a remote-side prefix means
nothing), and a port without an ACL (the server sent none: the host behaves as before ACLs).
The static defaults of 15/55 (`flows.static_flows`) pass what has no flows here.

=====  ==================  ===============================================================
table  priority            flows (per port P with port security and an ACL)
=====  ==================  ===============================================================
15     40000 - number      reg6=P + the rule's match (remote side nw_dst/ipv6_dst) ->
                           goto 20 (allow) or drop (deny); one flow per port-range mask
15     1                   reg6=P,ip and reg6=P,ipv6 -> drop (nothing matched)
55     40000 - number      reg7=P + match (remote side nw_src/ipv6_src) -> goto 60 or drop
55     1                   reg7=P,ip and reg7=P,ipv6 -> drop
=====  ==================  ===============================================================

First match = highest priority: rule numbers 1..32766 map to priorities 39999..7234, so the
band leaves room above (bypasses) and below (the defaults). A priority is a function of the
rule's own number, not of its rank among the rules: adding, changing or removing one rule
changes that rule's flows only, and a rule's flows never share a (table, priority, match) key
with another rule's, since numbers are unique per ACL and direction.

Owner (cookie kind after `flows.KIND_*` and `security.KIND_*`): one port's ACL flows
(`KIND_ACL_PORT`, the port id). Not the (port, ACL) pair: a port has one ACL at a time, and
when it moves to another ACL both owners would hold the same default-drop keys, which the
reconciler does not allow between owners; owned by the port, a re-association is one diff.

Matching is the security groups' (`security._normalize`/`_matches`: protocol names, ICMP
type/code, destination port ranges as bitmasks), so both filters read a rule alike. One
difference: OVS cannot match DCCP/UDP-Lite ports, so a rule giving them matches the whole
protocol (as Neutron's firewall does) when it denies, and nothing when it allows -- widening
an allow would pass what the ACL denies, widening a deny only drops more.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from alcor.agent import flows, security
from alcor.agent.flows import EGRESS_ACL, INGRESS_ACL, Flow
from alcor.agent.security import EGRESS, INGRESS, IPV4

KIND_ACL_PORT = 0x08

ALLOW = "allow"
DENY = "deny"
NUMBER_MAX = 32766  # the API's range is 1..32766 (resources/declarations/network_acl.py)
PRIO_RULES = 40000  # rule n at PRIO_RULES - n
PRIO_DEFAULT = 1

TABLES = {EGRESS: EGRESS_ACL, INGRESS: INGRESS_ACL}


class AclRule(NamedTuple):
    """One ACL rule as the API stores it (protocol as its IANA number, None = any;
    ip_prefix is the remote side: destination for egress, source for ingress). The API
    requires an action; left out here it is deny, so an input that lost it fails closed."""

    number: int
    direction: str
    ethertype: str = IPV4
    protocol: int | None = None
    ip_prefix: str | None = None
    port_min: int | None = None
    port_max: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    action: str = DENY


class Acl(NamedTuple):
    id: str
    rules: tuple[AclRule, ...] = ()


class AclPort(NamedTuple):
    """A local port as the ACLs see it: `acl` is the one that applies (None: none known)."""

    id: str
    ofport: int
    acl: Acl | None = None
    port_security_enabled: bool = True


def priority(number: int) -> int:
    """The flow priority of rule `number`: lower number, higher priority."""
    if not 1 <= number <= NUMBER_MAX:
        raise ValueError(f"rule number {number} outside 1..{NUMBER_MAX}")
    return PRIO_RULES - number


def rule_flows(ofport: int, rule: AclRule) -> list[Flow]:
    """The flows of one rule for the port on `ofport` (several for a port range that needs
    several masks); ValueError for what the API refuses."""
    if rule.action not in (ALLOW, DENY):
        raise ValueError(f"bad action in {rule}")
    icmp = rule.protocol is not None and rule.protocol == security.ICMP.get(rule.ethertype)
    # the security groups carry an ICMP rule's type/code in its port fields
    lo, hi = (rule.icmp_type, rule.icmp_code) if icmp else (rule.port_min, rule.port_max)
    unused = (rule.port_min, rule.port_max) if icmp else (rule.icmp_type, rule.icmp_code)
    if unused != (None, None):
        raise ValueError(f"ports and ICMP type/code mixed in {rule}")
    if rule.protocol in security.PORTLESS_PROTOCOLS and lo is not None and rule.action == ALLOW:
        return []
    normal = security._normalize(
        security.SgRule(rule.direction, rule.ethertype, rule.protocol, lo, hi, rule.ip_prefix)
    )
    side = security.SIDES[rule.direction]
    action = f"goto_table:{side.entry}" if rule.action == ALLOW else "drop"
    table, prio = TABLES[rule.direction], priority(rule.number)
    return [
        Flow(table, prio, f"{side.reg}={ofport},{m}", action)
        for m in security._matches(normal, side)
    ]


def port_flows(port: AclPort) -> list[Flow]:
    """Every ACL flow of one local port (owner: `KIND_ACL_PORT`, the port id): its ACL's
    rules, then the default drop of IP in both directions."""
    if port.acl is None or not port.port_security_enabled:
        return []
    seen: set[tuple[str, int]] = set()
    out: list[Flow] = []
    for rule in port.acl.rules:
        if (rule.direction, rule.number) in seen:  # two rules at one priority: OVS picks either
            raise ValueError(f"rule number {rule.number} ({rule.direction}) given twice")
        seen.add((rule.direction, rule.number))
        out.extend(rule_flows(port.ofport, rule))
    for direction, table in TABLES.items():
        reg = security.SIDES[direction].reg
        out.extend(
            Flow(table, PRIO_DEFAULT, f"{reg}={port.ofport},{l3}", "drop")
            for l3 in security.L3.values()
        )
    return out


def host_flows(ports: Iterable[AclPort]) -> dict[int, list[Flow]]:
    """All ACL flows of a host by owner cookie, for `Reconciler.apply` or `resync` (a port
    without an ACL or port security maps to an empty list, which removes its flows).

    Count per port with port security and an ACL: 4 defaults plus, per rule, its port-range
    masks (1 without a range or for a single port; none for an allow on DCCP/UDP-Lite ports).
    """
    return {flows.cookie(KIND_ACL_PORT, p.id): port_flows(p) for p in ports}
