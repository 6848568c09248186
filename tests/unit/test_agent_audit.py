"""The agent's digests: cached per table and per group, equal to a computation from scratch
after any change (the server computes them from scratch, and the two must agree)."""

from __future__ import annotations

from alcor.agent.audit import Digester, drift, snapshot
from alcor.agent.model import HostModel
from alcor.southbound.protocol import digests
from alcor.southbound.protocol import goalstate_pb2 as pb


def _member(pid: str, ip: str, revision: int = 1) -> pb.AddressSetMember:
    return pb.AddressSetMember(port_id=pid, op=pb.UPSERT, revision=revision, ips=[ip])


def test_cached_digests_follow_every_change_of_an_address_set() -> None:
    model = HostModel("h1")
    digester = Digester()
    full = pb.AddressSet(group_id="g", members=[_member(f"p{i}", f"10.0.0.{i}") for i in range(50)])
    model.replace_address_set(full)
    first = digester(model)["address_sets"]
    assert first == Digester()(model)["address_sets"]
    assert digester(model)["address_sets"] == first  # unchanged: the cached value
    model.apply_address_delta(
        pb.AddressSetDelta(group_id="g", members=[_member("p3", "10.0.1.3", revision=2)])
    )
    changed = digester(model)["address_sets"]
    assert changed != first and changed == Digester()(model)["address_sets"]
    model.drop_address_set("g")
    assert digester(model)["address_sets"] == Digester()(model)["address_sets"] == "0:" + "0" * 32


def _port(pid: str, mac: str) -> pb.PortState:
    return pb.PortState(id=pid, op=pb.UPSERT, revision=1, mac_address=mac)


def test_drift_names_what_a_resync_added_removed_and_rewrote() -> None:
    model = HostModel("h1")
    held = [_port("a", "fa:16:3e:00:00:01"), _port("b", "fa:16:3e:00:00:02")]
    model.replace_host_state(pb.HostGoalState(ports=held), 0.0)
    before = snapshot(model)
    assert drift(before, model) == {}
    intent = [_port("b", "fa:16:3e:00:00:03"), _port("c", "fa:16:3e:00:00:04")]
    model.replace_host_state(pb.HostGoalState(ports=intent), 1.0)
    found = drift(before, model)
    assert found == {"ports": {"added": ["c"], "removed": ["a"], "changed": {"b": ["mac_address"]}}}


def test_a_floating_ips_revision_alone_is_not_a_difference() -> None:
    """Its status report bumps a floating IP's revision with nothing sent to the host."""
    fip = pb.FloatingIpState(id="f", revision=1, floating_ip_address="203.0.113.5")
    port = _port("a", "fa:16:3e:00:00:01")
    port.floating_ips.append(fip)
    later = pb.PortState()
    later.CopyFrom(port)
    later.floating_ips[0].revision = 2
    assert digests.entry_hash(port) == digests.entry_hash(later)
    later.floating_ips[0].fixed_ip_address = "10.0.0.5"
    assert digests.entry_hash(port) != digests.entry_hash(later)
