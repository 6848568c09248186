"""Network ACLs on real packets: API -> server -> NATS -> agents -> OVS tables 15/55.

Three VMs of one subnet on three hosts, all in their project's default security group (which
admits its members): an ACL deny beats that security-group allow, removing the rule restores
the traffic, a port's own ACL wins over its subnet's, and the network's default ACL, which
covers everything no other ACL does, allows everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from alcor.agent import acl
from alcor.lab.lab import Lab
from alcor.lab.vm import Vm
from tests.e2e.neutron import Api, Scratch
from tests.e2e.test_dataplane import CIDR, boot, cookie_flows, ip
from tests.support.waiting import wait_for

pytestmark = pytest.mark.ovs

ALLOW_ALL = [
    {"direction": direction, "number": 100, "action": "allow"}
    for direction in ("ingress", "egress")
]


@pytest.fixture(scope="module")
def subnet(api: Api, lab: Lab) -> Iterator[dict[str, Any]]:
    """One network with one subnet (its ACLs go with the network)."""
    net = api.create("network", name=f"{lab.prefix}-acl")
    try:
        yield api.create(
            "subnet",
            network_id=net["id"],
            name=f"{lab.prefix}-acl",
            ip_version=4,
            cidr=CIDR,
            gateway_ip="10.1.0.1",
        )
    finally:
        api.delete("network", net["id"], missing_ok=True)


@pytest.fixture(scope="module")
def vms(api: Api, lab: Lab, subnet: dict[str, Any]) -> Iterator[dict[str, Vm]]:
    """vm1 (h1, .11), vm2 (h2, .12), vm3 (h3, .13), all in the default security group."""
    scratch = Scratch(api, lab)
    net = {"id": subnet["network_id"]}
    try:
        out = {f"vm{n}": boot(scratch, f"vm{n}", f"h{n}", net, 10 + n) for n in (1, 2, 3)}
        for vm in out.values():
            api.wait_status(vm.port_id, "ACTIVE")
        yield out
    finally:
        scratch.cleanup()


def _acl(api: Api, network_id: str, rules: list[dict[str, Any]], **attrs: Any) -> dict[str, Any]:
    made = api.create("network_acl", network_id=network_id, **attrs)
    for rule in rules:
        api.create("network_acl_rule", network_acl_id=made["id"], **rule)
    return made


def _drop_acl(api: Api, acl_id: str) -> None:
    api.update("network_acl", acl_id, subnets=[], ports=[])
    api.delete("network_acl", acl_id)


def _pings(vm: Vm, target: str, wanted: bool) -> None:
    wait_for(
        lambda: vm.ping(target, count=1, wait=0.5) == wanted,
        20,
        f"{vm.name} -> {target} to {'pass' if wanted else 'be dropped'}",
    )


def test_the_default_acl_allows_everything(lab: Lab, vms: dict[str, Vm]) -> None:
    assert vms["vm1"].ping(ip(12)) and vms["vm2"].ping(ip(13)) and vms["vm3"].ping(ip(11))
    # the ports are filtered by it (the default drop of IP under its allow-all rules)
    held = cookie_flows(lab, "h2", acl.KIND_ACL_PORT, vms["vm2"].port_id)
    assert any("table=55" in f and "actions=drop" in f for f in held), held
    assert any("table=15" in f and "goto_table:20" in f for f in held), held


def test_an_acl_deny_beats_a_security_group_allow(
    api: Api, subnet: dict[str, Any], vms: dict[str, Vm]
) -> None:
    deny = {"direction": "ingress", "number": 10, "action": "deny", "protocol": "icmp"}
    web = _acl(
        api,
        subnet["network_id"],
        [{**deny, "ip_prefix": f"{ip(11)}/32"}, *ALLOW_ALL],
        name="web",
        subnets=[subnet["id"]],
    )
    try:
        _pings(vms["vm1"], ip(12), False)
        assert vms["vm3"].ping(ip(12))  # another source, inside the same ACL: allowed
        [rule] = [
            r
            for r in api.call("GET", f"/v2.0/network-acl-rules?network_acl_id={web['id']}")[
                "network_acl_rules"
            ]
            if r["number"] == 10
        ]
        api.delete("network_acl_rule", rule["id"])
        _pings(vms["vm1"], ip(12), True)
    finally:
        _drop_acl(api, web["id"])


def test_a_ports_own_acl_wins_over_its_subnets(
    api: Api, subnet: dict[str, Any], vms: dict[str, Vm]
) -> None:
    closed = _acl(api, subnet["network_id"], [], name="closed", subnets=[subnet["id"]])
    try:
        _pings(vms["vm1"], ip(12), False)  # an ACL without rules drops all IP
        pair = [vms["vm1"].port_id, vms["vm2"].port_id]
        open_ = _acl(api, subnet["network_id"], ALLOW_ALL, name="open", ports=pair)
        try:
            _pings(vms["vm1"], ip(12), True)  # both ends' own ACL, whatever their subnet's
            assert not vms["vm3"].ping(ip(12), count=2)  # vm3 has only its subnet's
            api.update("network_acl", open_["id"], ports=pair[1:])
            _pings(vms["vm1"], ip(12), False)  # vm1 is back under its subnet's ACL
        finally:
            _drop_acl(api, open_["id"])
    finally:
        _drop_acl(api, closed["id"])
    _pings(vms["vm1"], ip(12), True)  # back to the network's default
