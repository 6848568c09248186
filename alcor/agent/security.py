"""Security groups on a host: Neutron's OVS-firewall semantics as pure functions to `Flow`s.

Like `flows`, nothing here touches OVS: small typed inputs (rules, groups, a port's ofport and
groups, remote groups' address sets) map to flows of the reserved tables 20/21 (egress) and
60/61 (ingress), so every case is unit-testable and a resync recomputes the identical set.
The same normalised rule drives the flows and `stale_of_ports`, which picks the
conntrack entries a rule or member change no longer allows (Neutron's OVS firewall cuts
those connections too; the agent flushes them with `flush_args`).

Semantics (Neutron's): a port without port security gets no flows here (the static defaults
pass it). With port security, no rule means deny, except what Neutron's firewall lets through
without rules: ARP in (out, table 10 checked it), DHCP offers in, IPv6 neighbour discovery and
MLD (userspace conntrack marks NS/NA invalid, so they must bypass it), DHCPv6 client out; a
port may not act as a DHCP server or send router advertisements. A stateful port
(`SecurityGroup.stateful`) tracks IP in its own conntrack zone (zone = ofport: reg6 egress,
reg7 ingress); invalid is dropped, established/related pass, new traffic matching a rule is
committed. A stateless port skips conntrack and its rules match each packet, replies
included; they live in the same tables (21/61, where no flow of a stateless port reads
ct_state), so stateful and stateless conjunctions share one flow per member address.
Neutron refuses a port with stateful and stateless groups; mixed input is treated as
stateful, with a warning.

=====  ========  ==================================================================
table  priority  flows (per port P unless said otherwise)
=====  ========  ==================================================================
20     110       egress bans: DHCP server replies (udp 67->68, 547->546), IPv6 RAs
20     105       egress bypass: MLD query, RS, NS, NA, DHCPv6 client -> 30
20     100       reg6=P,ip|ipv6 -> ct(table=21,zone=reg6) (stateless: -> 21)
21     200       +trk+inv -> drop                                   (stateful)
21     190       +trk+est, +trk+rel -> 30                           (stateful)
21     70        plain rules: [+trk+new,] match -> [ct(commit),] 30
21     60        conjunctions: dimension 1 = one flow per member address (shared by
                 every port and rule), dimension 2 = one per (port, rule match);
                 conj_id=N -> [ct(commit),] 30 (one per conjunction)
21     1         reg6=P -> drop
60     105       ingress bypass: ARP, MLD query, RA, NS, NA, DHCP offers -> output
60     100       reg7=P,ip|ipv6 -> ct(table=61,zone=reg7) (stateless: -> 61)
60     1         reg7=P -> drop (other non-IP)
61     ...       as 21 with reg7, delivering with output:reg7; an ingress commit sets
                 ct_mark bit 0, which tells `stale_of_ports` the direction
=====  ========  ==================================================================

Priorities against OVS's conjunction rules (ovs-fields(7), lib/classifier.c): a conjunctive
("soft") match only counts when its priority is above the best plain match, and the
conj_id=N lookup then returns the best plain flow matching with conj_id set. So every flow of
a conjunction, and its conj_id flow, sits at one priority (60), above the port's drop (1) and
below the conntrack-state flows (190/200): a packet that is invalid or established never
reaches the conjunctions, and a conj_id flow can never be shadowed by a plain flow that was
not already the winner. Plain rules (70) and conjunctions both accept, so which one wins
when both match does not matter. Overlapping conjunctions at one priority are harmless
here: all of a table's conj_id flows accept, and every conjunction a packet can complete
belongs to its one port, which is stateful or not as a whole.

Remote groups grow flows with rules plus members, never rules x members: a conjunction per
(remote group, direction, ethertype, stateful) -- the last because its conj_id flow commits
or not -- with ids from a hash (`conj_ids`), so a restarted agent recomputes them. Flows
with one (table, priority, match) are merged into one flow carrying every conjunction:
dimension 2 of a port's rules that share a match, and dimension 1 of an address that several
groups list.

Owners (cookie kinds after `flows.KIND_*`): a port's flows (`KIND_SG_PORT`, its id); a
remote group's conj_id flows (`KIND_ADDRESS_SET`, the group id); one member address's
dimension-1 flows (`KIND_SET_MEMBER`, the address), since such a flow is shared by every
group that lists the address and so cannot belong to any one of them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from alcor.agent import flows
from alcor.agent.flows import (
    DISPATCH,
    EGRESS_SG,
    EGRESS_SG_CT,
    INGRESS_SG,
    INGRESS_SG_CT,
    Flow,
)

log = logging.getLogger(__name__)

KIND_SG_PORT = 0x05
KIND_ADDRESS_SET = 0x06
KIND_SET_MEMBER = 0x07

EGRESS = "egress"
INGRESS = "ingress"
IPV4 = "IPv4"
IPV6 = "IPv6"

PRIO_CT_INVALID = 200
PRIO_CT_KNOWN = 190
PRIO_BAN = 110
PRIO_BYPASS = 105
PRIO_TRACK = 100
PRIO_RULE = 70
PRIO_CONJ = 60
PRIO_PORT_DROP = 1

# ct_mark bit set by ingress commits: conntrack entries of a zone hold both directions.
MARK_INGRESS = 0x1
CONJ_ID_SPACE = 2**32 - 1  # conj ids 1..2^32-1; conj_id=0 would match every packet

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# -- inputs ------------------------------------------------------------------------------------
class SgRule(NamedTuple):
    """One security group rule as Neutron stores it (protocol as its IANA number, None = any;
    for ICMP/ICMPv6 port_min/port_max are the type/code)."""

    direction: str
    ethertype: str
    protocol: int | None = None
    port_min: int | None = None
    port_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None


class SecurityGroup(NamedTuple):
    id: str
    stateful: bool = True
    rules: tuple[SgRule, ...] = ()


class SgPort(NamedTuple):
    """A local port as the security groups see it (`id` names the owner of its flows)."""

    id: str
    ofport: int
    groups: tuple[SecurityGroup, ...] = ()
    port_security_enabled: bool = True


class AddressSet(NamedTuple):
    """A remote group's members: their fixed IPs and allowed-address-pair IPs/CIDRs."""

    group_id: str
    addresses: tuple[str, ...] = ()


class ConjKey(NamedTuple):
    """What one conjunction stands for; `conj_ids` numbers them."""

    group_id: str
    direction: str
    ethertype: str
    stateful: bool


# -- the two directions ------------------------------------------------------------------------
class _Side(NamedTuple):
    entry: int  # table the pipeline hands the packet to
    rules: int  # table after conntrack
    reg: str  # register holding the port's ofport, also its zone
    accept: str
    mark: str  # extra ct(commit) argument
    remote: Mapping[str, str]  # ethertype -> field holding the remote address
    bans: tuple[str, ...]
    bypass: tuple[str, ...]

    def zone(self) -> str:
        return f"NXM_NX_{self.reg.upper()}[0..15]"

    def commit(self) -> str:
        return f"ct(commit,zone={self.zone()}{self.mark}),{self.accept}"


_DHCP_REPLY = ("udp,tp_src=67,tp_dst=68", "udp6,tp_src=547,tp_dst=546")
SIDES = {
    EGRESS: _Side(
        EGRESS_SG,
        EGRESS_SG_CT,
        "reg6",
        f"goto_table:{DISPATCH}",
        "",
        {IPV4: "nw_dst", IPV6: "ipv6_dst"},
        (*_DHCP_REPLY, "icmp6,icmpv6_type=134"),
        (*(f"icmp6,icmpv6_type={t}" for t in (130, 133, 135, 136)), "udp6,tp_src=546,tp_dst=547"),
    ),
    INGRESS: _Side(
        INGRESS_SG,
        INGRESS_SG_CT,
        "reg7",
        "output:NXM_NX_REG7[0..15]",
        f",exec(load:{MARK_INGRESS}->NXM_NX_CT_MARK[0])",
        {IPV4: "nw_src", IPV6: "ipv6_src"},
        (),
        ("arp", *(f"icmp6,icmpv6_type={t}" for t in (130, 134, 135, 136)), *_DHCP_REPLY),
    ),
}
L3 = {IPV4: "ip", IPV6: "ipv6"}
PORT_PROTOCOLS = {6: "tcp", 17: "udp", 132: "sctp"}  # OVS matches their ports (tp_dst)
PORTLESS_PROTOCOLS = {33, 136}  # DCCP, UDP-Lite: Neutron accepts ports, OVS has no field
ICMP = {IPV4: 1, IPV6: 58}
_ICMP_MATCH = {IPV4: ("icmp", "icmp"), IPV6: ("icmp6", "icmpv6")}


# -- rules, normalised once for flows and for conntrack checks ---------------------------------
class _Rule(NamedTuple):
    direction: str
    ethertype: str
    protocol: int | None
    ports: tuple[int, int] | None  # destination port range (tcp, udp, sctp)
    icmp_type: int | None
    icmp_code: int | None
    prefix: Network | None  # None = any address
    remote_group: str | None


def _normalize(rule: SgRule) -> _Rule:
    """A rule in the form both `port_flows` and `stale_of_ports` read; ValueError for
    what Neutron's API refuses."""
    if rule.direction not in SIDES or rule.ethertype not in L3:
        raise ValueError(f"bad direction/ethertype in {rule}")
    prefix = None
    if rule.remote_ip_prefix:
        prefix = ipaddress.ip_network(rule.remote_ip_prefix, strict=False)
        if f"IPv{prefix.version}" != rule.ethertype:
            raise ValueError(f"prefix {rule.remote_ip_prefix} is not {rule.ethertype}")
        if prefix.prefixlen == 0:
            prefix = None
    ports = icmp_type = icmp_code = None
    lo, hi = rule.port_min, rule.port_max
    if rule.protocol in PORT_PROTOCOLS and (lo, hi) != (None, None):
        if lo is None or hi is None or not 0 <= lo <= hi <= 0xFFFF:
            raise ValueError(f"bad port range in {rule}")
        ports = (lo, hi)
    elif rule.protocol == ICMP[rule.ethertype]:
        if lo is None and hi is not None:
            raise ValueError(f"ICMP code without type in {rule}")
        icmp_type, icmp_code = lo, hi
    elif rule.protocol not in PORTLESS_PROTOCOLS and (lo, hi) != (None, None):
        raise ValueError(f"ports for protocol {rule.protocol} in {rule}")
    return _Rule(
        rule.direction,
        rule.ethertype,
        rule.protocol,
        ports,
        icmp_type,
        icmp_code,
        prefix,
        rule.remote_group_id,
    )


def port_range_masks(lo: int, hi: int) -> list[tuple[int, int]]:
    """(value, mask) pairs whose 16-bit masked matches cover exactly [lo, hi].

    Neutron matches a port range with bitmasks, not one flow per port: the greedy split into
    aligned power-of-two blocks, at most 30 of them for any range.
    """
    out = []
    while lo <= hi:
        size = lo & -lo or 0x10000  # the largest block aligned at lo ...
        while lo + size - 1 > hi:  # ... that stays inside the range
            size >>= 1
        out.append((lo, 0xFFFF & ~(size - 1)))
        lo += size
    return out


def _address_text(net: Network) -> str:
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def member_key(address: str) -> str:
    """The owner name of a member address's flows (`KIND_SET_MEMBER`): '10.0.0.7' for a
    host address, the CIDR for a network."""
    return _address_text(ipaddress.ip_network(address, strict=False))


def _matches(rule: _Rule, side: _Side) -> list[str]:
    """The protocol, port and remote-prefix part of a rule's flows (several for a port
    range that needs several masks)."""
    eth = rule.ethertype
    if rule.protocol in PORT_PROTOCOLS:
        head = PORT_PROTOCOLS[rule.protocol] + ("6" if eth == IPV6 else "")
    elif rule.protocol == ICMP[eth]:
        head, field = _ICMP_MATCH[eth]
        if rule.icmp_type is not None:
            head += f",{field}_type={rule.icmp_type}"
        if rule.icmp_code is not None:
            head += f",{field}_code={rule.icmp_code}"
    elif rule.protocol is not None:
        head = f"{L3[eth]},nw_proto={rule.protocol}"
    else:
        head = L3[eth]
    if rule.prefix is not None:
        head += f",{side.remote[eth]}={_address_text(rule.prefix)}"
    if rule.ports is None:
        return [head]
    return [head + _tp_dst(value, mask) for value, mask in port_range_masks(*rule.ports)]


def _tp_dst(value: int, mask: int) -> str:
    if mask == 0:  # every port
        return ""
    return f",tp_dst={value}" if mask == 0xFFFF else f",tp_dst={value:#x}/{mask:#x}"


def _rules(port: SgPort) -> list[_Rule]:
    return [_normalize(r) for g in port.groups for r in g.rules]


def is_stateful(port: SgPort) -> bool:
    """Whether the port's traffic goes through conntrack: stateless only when every group
    is stateless (Neutron refuses mixed groups; mixed input is taken as stateful)."""
    kinds = {g.stateful for g in port.groups}
    if len(kinds) > 1:
        log.warning("port %s mixes stateful and stateless groups: treated as stateful", port.id)
    return kinds != {False}


# -- conjunction ids ---------------------------------------------------------------------------
def conj_keys(ports: Iterable[SgPort]) -> set[ConjKey]:
    """The conjunctions the local ports' remote-group rules need."""
    keys = set()
    for port in ports:
        if port.port_security_enabled:
            stateful = is_stateful(port)
            for rule in _rules(port):
                if rule.remote_group:
                    keys.add(ConjKey(rule.remote_group, rule.direction, rule.ethertype, stateful))
    return keys


def _natural_id(key: ConjKey) -> int:
    text = "\0".join((key.group_id, key.direction, key.ethertype, str(key.stateful)))
    digest = hashlib.blake2b(text.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % CONJ_ID_SPACE + 1


def conj_ids(keys: Iterable[ConjKey]) -> dict[ConjKey, int]:
    """A conjunction id per key, stable across restarts: a 32-bit hash of the key.

    Two keys whose hashes collide must not share an id (the conjunction would then admit
    group A's members through rules on group B), so ids are handed out in (hash, key) order
    and a taken id moves to the next free one. The result is a function of the key set: a
    resync recomputes the same ids, and only a collision (~k^2/2^33 for k keys) can make
    an id depend on which other keys exist -- their flows then change with it, consistently,
    since every flow takes its id from this map.
    """
    out: dict[ConjKey, int] = {}
    taken: set[int] = set()
    for key in sorted(keys, key=lambda k: (_natural_id(k), k)):
        cid = _natural_id(key)
        while cid in taken:
            cid = cid % CONJ_ID_SPACE + 1
        taken.add(cid)
        out[key] = cid
    return out


def _conjunctions(ids: Iterable[int], dimension: int) -> str:
    return ",".join(f"conjunction({cid},{dimension}/2)" for cid in sorted(set(ids)))


# -- flows of one port -------------------------------------------------------------------------
def port_flows(port: SgPort, ids: Mapping[ConjKey, int]) -> list[Flow]:
    """Every security-group flow of one local port (owner: `KIND_SG_PORT`, the port id).

    `ids` is `conj_ids(conj_keys(all local ports))`: remote-group rules only add their
    dimension-2 flows here; the addresses and the conj_id flows are shared (`address_flows`,
    `conj_flows`).
    """
    if not port.port_security_enabled:
        return []
    stateful = is_stateful(port)
    out: list[Flow] = []
    for side in SIDES.values():
        out.extend(_base_flows(port.ofport, side, stateful))
    state = "ct_state=+trk+new," if stateful else ""
    plain: dict[tuple[int, str], Flow] = {}
    conj: dict[tuple[int, str], set[int]] = defaultdict(set)
    for rule in _rules(port):
        side = SIDES[rule.direction]
        for m in _matches(rule, side):
            match = f"{side.reg}={port.ofport},{state}{m}"
            if rule.remote_group is None:
                action = side.commit() if stateful else side.accept
                plain[(side.rules, match)] = Flow(side.rules, PRIO_RULE, match, action)
            else:
                key = ConjKey(rule.remote_group, rule.direction, rule.ethertype, stateful)
                conj[(side.rules, match)].add(ids[key])
    out.extend(plain.values())
    out.extend(
        Flow(table, PRIO_CONJ, match, _conjunctions(cids, 2))
        for (table, match), cids in conj.items()
    )
    return out


def _base_flows(ofport: int, side: _Side, stateful: bool) -> list[Flow]:
    """What a port with port security gets in one direction whatever its rules."""
    reg = f"{side.reg}={ofport}"
    out = [Flow(side.entry, PRIO_BAN, f"{reg},{m}", "drop") for m in side.bans]
    out += [Flow(side.entry, PRIO_BYPASS, f"{reg},{m}", side.accept) for m in side.bypass]
    track = f"ct(table={side.rules},zone={side.zone()})" if stateful else f"goto_table:{side.rules}"
    out += [Flow(side.entry, PRIO_TRACK, f"{reg},{l3}", track) for l3 in L3.values()]
    if stateful:
        out.append(Flow(side.rules, PRIO_CT_INVALID, f"{reg},ct_state=+trk+inv", "drop"))
        out += [
            Flow(side.rules, PRIO_CT_KNOWN, f"{reg},ct_state=+trk{s}", side.accept)
            for s in ("+est", "+rel")
        ]
    out.append(Flow(side.rules, PRIO_PORT_DROP, reg, "drop"))
    return out


# -- shared conjunction flows ------------------------------------------------------------------
def conj_flows(group_id: str, ids: Mapping[ConjKey, int]) -> list[Flow]:
    """The conj_id flows of one remote group's conjunctions (owner: `KIND_ADDRESS_SET`,
    the group id): a completed conjunction commits (stateful) and continues."""
    out = []
    for key, cid in sorted(ids.items()):
        if key.group_id == group_id:
            side = SIDES[key.direction]
            action = side.commit() if key.stateful else side.accept
            out.append(Flow(side.rules, PRIO_CONJ, f"conj_id={cid},{L3[key.ethertype]}", action))
    return out


def _members(address_set: AddressSet) -> list[Network]:
    """The set's addresses as networks. A /0 (an allowed address pair for everything) is
    left out: Neutron narrows it to that member's MAC, which an address set does not carry,
    and taking it as is would admit every source."""
    nets = (ipaddress.ip_network(a, strict=False) for a in address_set.addresses)
    return [n for n in nets if n.prefixlen]


def address_flows(
    address_sets: Iterable[AddressSet], ids: Mapping[ConjKey, int]
) -> dict[str, list[Flow]]:
    """Dimension 1 of the conjunctions, by member address (owner: `KIND_SET_MEMBER`, the
    address): one flow per address and rules table, carrying the conjunction of every group
    that lists it (nw_dst/ipv6_dst for egress, nw_src/ipv6_src for ingress)."""
    by_group: dict[str, list[tuple[ConjKey, int]]] = defaultdict(list)
    for key, cid in ids.items():
        by_group[key.group_id].append((key, cid))
    acts: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    for address_set in address_sets:
        keys = by_group.get(address_set.group_id, [])
        for net in _members(address_set) if keys else ():
            eth = f"IPv{net.version}"
            for key, cid in keys:
                if key.ethertype == eth:
                    acts[(_address_text(net), key.direction, eth)].add(cid)
    out: dict[str, list[Flow]] = defaultdict(list)
    for (addr, direction, eth), cids in sorted(acts.items()):
        side = SIDES[direction]
        match = f"{L3[eth]},{side.remote[eth]}={addr}"
        out[addr].append(Flow(side.rules, PRIO_CONJ, match, _conjunctions(cids, 1)))
    return dict(out)


def host_flows(
    ports: Iterable[SgPort], address_sets: Iterable[AddressSet]
) -> dict[int, list[Flow]]:
    """All security-group flows of a host by owner cookie, ready for `Reconciler.apply` or
    `resync` (a port without port security maps to an empty list, which removes its flows).

    Count: per port with port security 27 base flows when stateful (21 stateless), plus per
    rule its port-range masks (1 for a single port or none), plus one flow per member
    address and direction its groups are used in, plus one conj_id flow per conjunction.
    """
    ports = list(ports)
    ids = conj_ids(conj_keys(ports))
    out = {flows.cookie(KIND_SG_PORT, p.id): port_flows(p, ids) for p in ports}
    for group_id in sorted({k.group_id for k in ids}):
        out[flows.cookie(KIND_ADDRESS_SET, group_id)] = conj_flows(group_id, ids)
    for addr, flow_list in address_flows(address_sets, ids).items():
        out[flows.cookie(KIND_SET_MEMBER, addr)] = flow_list
    return out


# -- conntrack: connections a change no longer allows ------------------------------------------
class CtEntry(NamedTuple):
    """One `dpctl/dump-conntrack` entry: the original-direction tuple, zone and mark.

    ICMP entries carry type/code/id and no ports; protocols the userspace conntrack tracks
    without ports (SCTP, DCCP, UDP-Lite, others) show ports 0.
    """

    protocol: int
    src: str
    dst: str
    sport: int = 0
    dport: int = 0
    icmp_type: int | None = None
    icmp_code: int | None = None
    icmp_id: int | None = None
    zone: int = 0
    mark: int = 0


_CT_PROTOCOLS = {
    "icmp": 1,
    "igmp": 2,
    "tcp": 6,
    "udp": 17,
    "dccp": 33,
    "icmpv6": 58,
    "udplite": 136,
    "sctp": 132,
}
_CT_LINE = re.compile(r"^(\w+),orig=\(([^)]*)\),reply=\([^)]*\)(.*)$")


def parse_conntrack(text: str) -> list[CtEntry]:
    """Entries of `ovs-appctl dpctl/dump-conntrack [-m] [-s]` output (other lines skipped).

    The zone filter of dump-conntrack is not relied on (OVS 3.1's userspace datapath lists
    every zone); callers select by `CtEntry.zone`. Zone 0 and mark 0 are not printed.
    """
    out = []
    for line in text.splitlines():
        found = _CT_LINE.match(line.strip())
        if found:
            out.append(_ct_entry(*found.groups()))
    return out


def _ct_entry(name: str, orig: str, rest: str) -> CtEntry:
    text = dict(kv.split("=", 1) for kv in orig.split(","))
    fields = {k: int(v) for k, v in text.items() if v.isdigit()}
    extra = dict(re.findall(r",(zone|mark)=(\d+)", rest.split(",protoinfo=")[0]))
    icmp = "type" in fields
    return CtEntry(
        _CT_PROTOCOLS.get(name) or int(name),
        text["src"],
        text["dst"],
        fields.get("sport", 0),
        fields.get("dport", 0),
        fields["type"] if icmp else None,
        fields["code"] if icmp else None,
        fields["id"] if icmp else None,
        int(extra.get("zone", 0)),
        int(extra.get("mark", 0)),
    )


def _admits(rule: _Rule, entry: CtEntry, members: Mapping[str, list[Network]]) -> bool:
    """Whether `rule` would admit the entry's first packet (the mirror of its flows)."""
    direction = INGRESS if entry.mark & MARK_INGRESS else EGRESS
    remote = ipaddress.ip_address(entry.src if direction == INGRESS else entry.dst)
    if rule.direction != direction or rule.ethertype != f"IPv{remote.version}":
        return False
    if rule.protocol is not None and rule.protocol != entry.protocol:
        return False
    tracked_ports = entry.sport or entry.dport  # 0/0: tracked without ports
    if rule.ports and tracked_ports and not rule.ports[0] <= entry.dport <= rule.ports[1]:
        return False
    if rule.icmp_type is not None and rule.icmp_type != entry.icmp_type:
        return False
    if rule.icmp_code is not None and rule.icmp_code != entry.icmp_code:
        return False
    if rule.prefix is not None and remote not in rule.prefix:
        return False
    if rule.remote_group is not None:
        return any(remote in net for net in members.get(rule.remote_group, ()))
    return True


def stale_of_ports(
    entries: Iterable[CtEntry], ports: Iterable[SgPort], address_sets: Iterable[AddressSet]
) -> list[CtEntry]:
    """The entries of these ports' zones that their current rules and address sets no longer
    allow: what the agent flushes after a rule or member goes, as Neutron cuts them. One dump
    serves all of a host's ports: the members are parsed once and each port looks only at
    its own zone's entries.

    The direction comes from the ingress commit's ct_mark bit. A port without port security
    has nothing checked; a stateless port uses no conntrack, so all of its zone is leftovers.
    SCTP/DCCP/UDP-Lite entries of the userspace conntrack have no ports, so only their
    protocol and address are checked.
    """
    by_zone: dict[int, list[CtEntry]] = defaultdict(list)
    for entry in entries:
        by_zone[entry.zone].append(entry)
    members: dict[str, list[Network]] | None = None
    out: list[CtEntry] = []
    for port in ports:
        zone = by_zone.get(port.ofport, [])
        if not port.port_security_enabled or not zone:
            continue
        if not is_stateful(port):
            out.extend(zone)
            continue
        if members is None:
            members = {s.group_id: _members(s) for s in address_sets}
        rules = _rules(port)
        out.extend(e for e in zone if not any(_admits(r, e, members) for r in rules))
    return out


# First release of each OVS branch whose flush-conntrack no longer aborts ovs-vswitchd on an
# ICMPv6 tuple (upstream b5e682925: the ICMPv4 type reversal hit OVS_NOT_REACHED for 128).
_ICMPV6_FLUSH_FIXED = {(3, 0): 7, (3, 1): 5, (3, 2): 3, (3, 3): 1}


def icmpv6_flush_safe(ovs_version: str) -> bool:
    """Whether `dpctl/flush-conntrack` with an ICMPv6 tuple is safe on this OVS (3.1.0, as
    in Debian 12, aborts ovs-vswitchd: reproduced here)."""
    major, minor, patch = [*map(int, re.findall(r"\d+", ovs_version)), 0, 0, 0][:3]
    fixed = _ICMPV6_FLUSH_FIXED.get((major, minor))
    if fixed is None:
        return (major, minor) >= (3, 4)
    return patch >= fixed


def flush_args(entry: CtEntry, ovs_version: str) -> list[str] | None:
    """Arguments of `ovs-appctl dpctl/flush-conntrack` removing exactly this entry:
    `zone=N` and its original tuple (ports left out when the entry has none, so OVS matches
    the tuple as partial). None for an ICMPv6 entry on an OVS that would crash on it: the
    entry then ages out (ICMP timeouts are 30-60 s)."""
    if entry.protocol == ICMP[IPV6] and not icmpv6_flush_safe(ovs_version):
        return None
    family = "ct_ipv6" if ":" in entry.src else "ct_nw"
    parts = [f"{family}_src={entry.src}", f"{family}_dst={entry.dst}"]
    parts.append(f"ct_nw_proto={entry.protocol}")
    if entry.icmp_type is not None:
        parts.append(f"icmp_type={entry.icmp_type},icmp_code={entry.icmp_code}")
        parts.append(f"icmp_id={entry.icmp_id}")
    elif entry.sport or entry.dport:
        parts.append(f"ct_tp_src={entry.sport},ct_tp_dst={entry.dport}")
    return [f"zone={entry.zone}", ",".join(parts)]
