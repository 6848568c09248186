"""What the agent holds of security groups: the groups of its ports and the address sets of
the remote groups their rules name, turned into `security` inputs.

Why apart from `HostModel`: security-group flows are computed for the host as a whole
(`security.host_flows`: conjunction ids and member-address flows are shared by every port and
group), so they form one owner, `SG_OWNER`, whose cookies come and go together; this module
keeps the goal-state side of it (revision-guarded like every other entry) and the cookies it
last produced, so a round also removes the cookies nothing produces any more.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from alcor.agent import flows, security
from alcor.agent.flows import Flow
from alcor.agent.revisions import guarded_apply
from alcor.southbound.protocol import goalstate_pb2 as pb

SG_OWNER = ("sg",)  # every security-group flow of the host
SG_MEMBERS = ("sg-members",)  # only the member-address flows (a remote group's member moved)

_ICMP = {1, 58}


def _rule(rule: pb.SecurityGroupRuleState) -> security.SgRule:
    protocol = int(rule.protocol) if rule.protocol else None
    if protocol in _ICMP:
        lo = rule.icmp_type if rule.HasField("icmp_type") else None
        hi = rule.icmp_code if rule.HasField("icmp_code") else None
    else:
        lo = rule.port_range_min or None
        hi = rule.port_range_max or None
    return security.SgRule(
        direction=rule.direction,
        ethertype=rule.ethertype,
        protocol=protocol,
        port_min=lo,
        port_max=hi,
        remote_ip_prefix=rule.remote_ip_prefix or None,
        remote_group_id=rule.remote_group_id or None,
    )


def group(state: pb.SecurityGroupState) -> security.SecurityGroup:
    """A goal-state group as the flow functions take it."""
    return security.SecurityGroup(state.id, state.stateful, tuple(_rule(r) for r in state.rules))


class GroupState:
    """Groups of local ports, and the members of the remote groups their rules name."""

    def __init__(self) -> None:
        self.groups: dict[str, pb.SecurityGroupState] = {}
        self.members: dict[str, dict[str, pb.AddressSetMember]] = {}  # group -> port -> member
        # address -> group -> how many of the group's members hold it (`member_flows`)
        self.listed: dict[str, Counter[str]] = {}
        self.cookies: set[int] = set()  # what the last computation produced
        self.ids: dict[security.ConjKey, int] = {}  # conjunction ids of the last computation
        self.shrunk = False  # a member left since the last connection check (`take_shrunk`)
        # member addresses changed since the last member computation (None: all of them)
        self.touched: set[str] | None = None
        self.version = 0  # bumped by every member change (the audit's digest cache key)

    def wanted(self) -> set[str]:
        """Remote groups whose address sets the host needs (subjects to follow)."""
        return {
            r.remote_group_id for g in self.groups.values() for r in g.rules if r.remote_group_id
        }

    def apply_members(self, delta: pb.AddressSetDelta) -> bool:
        """Apply one address-set delta (revision-guarded per member); True if it changed."""
        held = self.members.setdefault(delta.group_id, {})
        changed = False
        for member in delta.members:
            before = held.get(member.port_id)
            if guarded_apply(held, member.port_id, member):
                changed = True
                self.version += 1
                after = held.get(member.port_id)
                self._list(delta.group_id, before, -1)
                self._list(delta.group_id, after, +1)
                old_ips = set(before.ips) if before is not None else set()
                new_ips = set(after.ips) if after is not None else set()
                self.shrunk |= not old_ips <= new_ips
                if self.touched is not None:
                    self.touched |= old_ips ^ new_ips
        return changed

    def replace_members(self, full: pb.AddressSet) -> None:
        self.drop_members(full.group_id)
        self.version += 1
        self.members[full.group_id] = {m.port_id: m for m in full.members if m.op == pb.UPSERT}
        for member in self.members[full.group_id].values():
            self._list(full.group_id, member, +1)

    def drop_members(self, group_id: str) -> None:
        self.version += 1
        for member in self.members.pop(group_id, {}).values():
            self._list(group_id, member, -1)
        self.shrunk, self.touched = True, None

    def _list(self, group_id: str, member: pb.AddressSetMember | None, step: int) -> None:
        """Count `member`'s addresses in (+1) or out of (-1) `group_id` in `listed`."""
        for ip in member.ips if member is not None else ():
            groups = self.listed.setdefault(ip, Counter())
            groups[group_id] += step
            if groups[group_id] <= 0:
                del groups[group_id]
                if not groups:
                    del self.listed[ip]

    def take_shrunk(self) -> bool:
        """Whether a member left or lost an address since the last call: only then can
        established connections have lost what admitted them (a join admits more)."""
        shrunk, self.shrunk = self.shrunk, False
        return shrunk

    def flows(
        self, ports: Iterable[pb.PortState], vifs: Mapping[str, int]
    ) -> dict[int, list[Flow]]:
        """Every security-group flow of the host by cookie, with [] for cookies the previous
        computation produced and this one does not (their flows go)."""
        sg_ports = self.sg_ports(ports, vifs)
        self.ids = security.conj_ids(security.conj_keys(sg_ports))
        self.touched = set()
        return self._replacing(security.host_flows(sg_ports, self.address_sets()), None)

    def member_flows(self) -> dict[int, list[Flow]]:
        """Only the member-address flows: a member joining or leaving a remote group changes
        nothing else (conjunction ids follow from rules, not members), and only the flows of
        the addresses that came or went (an address's flow carries every group listing it, so
        it is recomputed from the groups listing it, found through `listed`, not by walking
        every set): one join costs a few flows, not the whole host's recomputation nor a
        pass over every member."""
        touched, self.touched = self.touched, set()
        if touched is None:
            return self._replacing(self._member_out(self.address_sets()), security.KIND_SET_MEMBER)
        keys = {security.member_key(a) for a in touched}
        sets = [
            security.AddressSet(gid, (a,))
            for a in sorted(touched)
            for gid in self.listed.get(a, ())
        ]
        out = self._member_out(sets)
        for key in keys:
            out.setdefault(flows.cookie(security.KIND_SET_MEMBER, key), [])
        self.cookies = (self.cookies - out.keys()) | {ck for ck, fl in out.items() if fl}
        return out

    def _member_out(self, sets: list[security.AddressSet]) -> dict[int, list[Flow]]:
        return {
            flows.cookie(security.KIND_SET_MEMBER, addr): flow_list
            for addr, flow_list in security.address_flows(sets, self.ids).items()
        }

    def _replacing(self, out: dict[int, list[Flow]], kind: int | None) -> dict[int, list[Flow]]:
        """`out` plus [] for the cookies (of `kind`, or all) produced last time and not now."""
        held = {ck for ck in self.cookies if kind is None or flows.cookie_kind(ck) == kind}
        for ck in held - out.keys():
            out[ck] = []
        self.cookies = (self.cookies - held) | {ck for ck, fl in out.items() if fl}
        return out

    def sg_ports(
        self, ports: Iterable[pb.PortState], vifs: Mapping[str, int]
    ) -> list[security.SgPort]:
        """The local ports as `security` sees them (for the conntrack check).

        Each group is converted once and shared by its ports: converting per port cost
        ports x rules protobuf reads (50 ports x 100 rules: tens of ms on the event loop,
        after every member leaving)."""
        converted: dict[str, security.SecurityGroup] = {}
        out = []
        for p in ports:
            if p.id not in vifs or not p.admin_state_up:
                continue
            groups = []
            for gid in p.security_group_ids:
                sg = converted.get(gid)
                if sg is None and gid in self.groups:
                    sg = converted[gid] = group(self.groups[gid])
                if sg is not None:
                    groups.append(sg)
            out.append(security.SgPort(p.id, vifs[p.id], tuple(groups), p.port_security_enabled))
        return out

    def address_sets(self) -> list[security.AddressSet]:
        return [
            security.AddressSet(gid, tuple(ip for m in members.values() for ip in m.ips))
            for gid, members in sorted(self.members.items())
        ]
