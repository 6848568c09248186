"""Which Nova external events a committed port change produces (Neutron's rules)."""

import pytest

from alcor.southbound.nova import events_for

VM = {"port_id": "p1", "device_id": "vm-1", "device_owner": "compute:nova"}


@pytest.mark.parametrize(
    ("kind", "extra", "expected"),
    [
        ("port_status", {"old": "DOWN", "new": "ACTIVE"}, ("network-vif-plugged", "completed")),
        ("port_status", {"old": "DOWN", "new": "ERROR"}, ("network-vif-plugged", "failed")),
        ("port_status", {"old": "ACTIVE", "new": "DOWN"}, ("network-vif-unplugged", "completed")),
        ("port_deleted", {}, ("network-vif-deleted", "completed")),
    ],
)
def test_vm_port_events(kind: str, extra: dict, expected: tuple[str, str]) -> None:
    (event,) = events_for(kind, {**VM, **extra})
    assert (event["name"], event["status"]) == expected
    assert event["server_uuid"] == "vm-1" and event["tag"] == "p1"


def test_no_events_for_other_ports_or_transitions() -> None:
    assert events_for("port_status", {**VM, "old": "ERROR", "new": "DOWN"}) == []
    router = {**VM, "device_owner": "network:router_interface"}
    assert events_for("port_status", {**router, "old": "DOWN", "new": "ACTIVE"}) == []
    assert events_for("port_deleted", {**VM, "device_id": ""}) == []
