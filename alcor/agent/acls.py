"""What the agent holds of network ACLs: the ACLs of its ports, turned into `acl` inputs.

Why apart from `HostModel`, as `groups` is for security groups: the ACL flows of the host are
computed as a whole (`acl.host_flows` over the local ports, each with its effective ACL, which
the server names in `PortState.network_acl_id`), so they form one owner, `ACL_OWNER`; this
module keeps the goal-state side of it (revision-guarded like every other entry) and the
cookies it last produced, so that a round also removes the flows of a port that went.

Fail closed: a port naming an ACL the host does not hold, or one whose rules the flow
functions refuse, gets an ACL without rules (its IP traffic dropped), as a port naming a
security group the host lacks gets no rules from it. The server sends a port's ACL with the
port, so either means a bug, not a moment to let everything through.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from alcor.agent import acl
from alcor.agent.flows import Flow
from alcor.southbound.protocol import goalstate_pb2 as pb

ACL_OWNER = ("acl",)  # every network-ACL flow of the host

log = logging.getLogger(__name__)


def _rule(rule: pb.NetworkAclRuleState) -> acl.AclRule:
    return acl.AclRule(
        number=rule.number,
        direction=rule.direction,
        ethertype=rule.ethertype,
        protocol=int(rule.protocol) if rule.protocol else None,
        ip_prefix=rule.ip_prefix or None,
        port_min=rule.port_range_min or None,
        port_max=rule.port_range_max or None,
        icmp_type=rule.icmp_type if rule.HasField("icmp_type") else None,
        icmp_code=rule.icmp_code if rule.HasField("icmp_code") else None,
        action=rule.action,
    )


def network_acl(state: pb.NetworkAclState) -> acl.Acl:
    """A goal-state ACL as the flow functions take it; without rules if they refuse one."""
    converted = acl.Acl(state.id, tuple(_rule(r) for r in state.rules))
    try:
        acl.port_flows(acl.AclPort(state.id, 1, converted))
    except ValueError as exc:
        log.error("network ACL %s refused, its ports drop all IP: %s", state.id, exc)
        return acl.Acl(state.id)
    return converted


class AclState:
    """ACLs of local ports, and the cookies of the last computation."""

    def __init__(self) -> None:
        self.acls: dict[str, pb.NetworkAclState] = {}
        self.cookies: set[int] = set()

    def flows(
        self, ports: Iterable[pb.PortState], vifs: Mapping[str, int]
    ) -> dict[int, list[Flow]]:
        """Every ACL flow of the host by cookie, with [] for cookies the previous computation
        produced and this one does not (their flows go)."""
        out = acl.host_flows(self.acl_ports(ports, vifs))
        for ck in self.cookies - out.keys():
            out[ck] = []
        self.cookies = {ck for ck, fl in out.items() if fl}
        return out

    def acl_ports(
        self, ports: Iterable[pb.PortState], vifs: Mapping[str, int]
    ) -> list[acl.AclPort]:
        """The plugged, enabled local ports as `acl` sees them."""
        converted: dict[str, acl.Acl] = {}
        out = []
        for p in ports:
            if p.id not in vifs or not p.admin_state_up:
                continue
            aid = p.network_acl_id
            if aid and aid not in converted:
                held = self.acls.get(aid)
                converted[aid] = network_acl(held) if held is not None else acl.Acl(aid)
            out.append(acl.AclPort(p.id, vifs[p.id], converted.get(aid), p.port_security_enabled))
        return out
