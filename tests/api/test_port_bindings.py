"""Multiple port bindings (`binding-extended`), the calls Nova's live migration makes, through
a real server with simulated hosts acking what they are sent (real NATS), over raw HTTP and
openstacksdk; Neutron's error types and messages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from alcor.lab.server_process import AlcorServer
from alcor.southbound import build
from alcor.southbound.sim import Fleet
from tests.api.conftest import member_headers, neutron_error
from tests.support.sim_fleet import running_fleet
from tests.support.waiting import wait_for

PROJECT = "pbind-project"


@pytest.fixture(scope="module")
def fleet(server: AlcorServer) -> Iterator[Fleet]:
    with running_fleet(server, "pbind") as hosts:
        yield hosts


@pytest.fixture(scope="module")
def hosts(http: httpx.Client, fleet: Fleet) -> list[str]:
    names = sorted(fleet.hosts)
    wait_for(
        lambda: (
            all(a["alive"] for a in http.get("/v2.0/agents").json()["agents"] if a["host"] in names)
            and len([a for a in http.get("/v2.0/agents").json()["agents"] if a["host"] in names])
            == len(names)
        ),
        30,
        "the simulated hosts to register",
    )
    return names


@pytest.fixture(scope="module")
def network(http: httpx.Client) -> dict[str, Any]:
    net = http.post(
        "/v2.0/networks", json={"network": {"name": "pbind", "project_id": PROJECT}}
    ).json()["network"]
    http.post(
        "/v2.0/subnets",
        json={
            "subnet": {
                "network_id": net["id"],
                "ip_version": 4,
                "cidr": "10.61.0.0/24",
                "project_id": PROJECT,
            }
        },
    ).raise_for_status()
    return net  # type: ignore[no-any-return]


def _port(http: httpx.Client, network: dict[str, Any], host: str, **attrs: Any) -> dict[str, Any]:
    body = {
        "network_id": network["id"],
        "project_id": PROJECT,
        "device_owner": "compute:nova",
        "device_id": "5e3c1c4e-9f7a-4c55-8d1a-2b0f0c1d2e3f",
        "binding:host_id": host,
        **attrs,
    }
    resp = http.post("/v2.0/ports", json={"port": body})
    assert resp.status_code == 201, resp.text
    return resp.json()["port"]  # type: ignore[no-any-return]


def _status(http: httpx.Client, port_id: str) -> str:
    return str(http.get(f"/v2.0/ports/{port_id}").json()["port"]["status"])


def test_extension_is_listed(http: httpx.Client) -> None:
    found = http.get("/v2.0/extensions/binding-extended").json()["extension"]
    assert found["name"] == "Port Bindings Extended"


def test_live_migration_calls(
    http: httpx.Client, fleet: Fleet, hosts: list[str], network: dict[str, Any]
) -> None:
    """Nova's sequence: bind inactive on the destination, activate, delete the source's."""
    src, dst = hosts
    port = _port(http, network, src)
    pid = port["id"]
    wait_for(lambda: _status(http, pid) == "ACTIVE", 20, "the port ACTIVE on the source")

    made = http.post(
        f"/v2.0/ports/{pid}/bindings",
        json={"binding": {"host": dst, "profile": {"migrating_to": dst}}},
    )
    assert made.status_code == 201, made.text
    binding = made.json()["binding"]
    assert binding["host"] == dst and binding["status"] == "INACTIVE"
    assert binding["vif_type"] == "ovs" and binding["vnic_type"] == "normal"
    assert binding["profile"] == {"migrating_to": dst}
    assert binding["vif_details"]["bridge_name"] == "br-int"
    shown = http.get(f"/v2.0/ports/{pid}").json()["port"]
    assert shown["binding:host_id"] == src and shown["status"] == "ACTIVE"

    listed = http.get(f"/v2.0/ports/{pid}/bindings").json()["bindings"]
    assert [(b["host"], b["status"]) for b in listed] == [(src, "ACTIVE"), (dst, "INACTIVE")]
    only = http.get(f"/v2.0/ports/{pid}/bindings", params={"status": "INACTIVE"}).json()
    assert [b["host"] for b in only["bindings"]] == [dst]
    narrow = http.get(f"/v2.0/ports/{pid}/bindings/{dst}", params={"fields": "status"}).json()
    assert narrow == {"binding": {"status": "INACTIVE"}}

    # the destination follows what the port needs while the binding is inactive
    guest = fleet.hosts[dst]
    wait_for(lambda: pid in guest.ports and guest.ports[pid].inactive, 20, "the destination")
    assert guest.ports[pid].host_id == dst and not guest.ports[pid].floating_ips
    [group] = shown["security_groups"]
    rule = {"security_group_id": group, "direction": "ingress", "protocol": "tcp"}
    http.post("/v2.0/security-group-rules", json={"security_group_rule": rule}).raise_for_status()
    http.put(f"/v2.0/networks/{network['id']}", json={"network": {"mtu": 1400}}).raise_for_status()
    wait_for(
        lambda: (
            any(r.protocol == "6" for r in guest.groups[group].rules)
            and guest.networks[network["id"]].mtu == 1400
        ),
        20,
        "a group's and a network's change to reach the destination",
    )

    activated = http.put(f"/v2.0/ports/{pid}/bindings/{dst}/activate")
    assert activated.status_code == 200, activated.text
    assert activated.json()["binding"]["status"] == "ACTIVE"
    moved = http.get(f"/v2.0/ports/{pid}").json()["port"]
    assert moved["binding:host_id"] == dst
    assert moved["binding:profile"] == {"migrating_to": dst}
    wait_for(lambda: _status(http, pid) == "ACTIVE", 20, "the port ACTIVE on the destination")
    assert http.get(f"/v2.0/ports/{pid}/provisioning").json()["provisioning"]["host_id"] == dst
    old = http.get(f"/v2.0/ports/{pid}/bindings/{src}").json()["binding"]
    assert old["status"] == "INACTIVE"

    assert http.delete(f"/v2.0/ports/{pid}/bindings/{src}").status_code == 204
    listed = http.get(f"/v2.0/ports/{pid}/bindings").json()["bindings"]
    assert [(b["host"], b["status"]) for b in listed] == [(dst, "ACTIVE")]
    assert http.delete(f"/v2.0/ports/{pid}").status_code == 204


def test_errors_are_neutrons(http: httpx.Client, hosts: list[str], network: dict[str, Any]) -> None:
    src, dst = hosts
    pid = _port(http, network, src)["id"]
    base = f"/v2.0/ports/{pid}/bindings"
    assert http.post(base, json={"binding": {"host": dst}}).status_code == 201
    body = neutron_error(
        http.post(base, json={"binding": {"host": dst}}), 409, "PortBindingAlreadyExists"
    )
    assert body["message"] == f"Binding for port {pid} on host {dst} already exists."
    neutron_error(http.post(base, json={"binding": {"host": src}}), 409, "PortBindingAlreadyExists")
    body = neutron_error(http.put(f"{base}/{src}/activate"), 409, "PortBindingAlreadyActive")
    assert body["message"] == f"Binding for port {pid} on host {src} is already active."
    body = neutron_error(http.put(f"{base}/nowhere/activate"), 404, "PortBindingNotFound")
    assert body["message"] == f"Binding for port {pid} for host nowhere could not be found."
    neutron_error(http.get(f"{base}/nowhere"), 404, "PortBindingNotFound")
    neutron_error(http.delete(f"{base}/nowhere"), 404, "PortBindingNotFound")
    body = neutron_error(http.post(base, json={"binding": {"host": "no-such-host"}}), 500)
    assert body["type"] == "PortBindingError"
    neutron_error(http.post(base, json={"binding": {}}), 400)
    neutron_error(http.post(base, json={"binding": {"host": "x", "vnic_type": "bogus"}}), 400)
    neutron_error(http.post(base, json={"binding": {"host": "x", "profile": "no"}}), 400)
    neutron_error(http.post(base, json={"binding": {"host": "x", "vif_type": "ovs"}}), 400)
    neutron_error(http.get("/v2.0/ports/00000000-0000-0000-0000-000000000000/bindings"), 404)

    plain = http.post("/v2.0/ports", json={"port": {"network_id": network["id"]}}).json()["port"]
    body = neutron_error(
        http.post(f"/v2.0/ports/{plain['id']}/bindings", json={"binding": {"host": dst}}),
        400,
        "BadRequest",
    )
    assert body["message"] == (
        f"Bad port request: Invalid port {plain['id']}. Operation only valid on compute and "
        "shared filesystem ports."
    )
    # nothing of the failed calls was written
    listed = http.get(base).json()["bindings"]
    assert [(b["host"], b["status"]) for b in listed] == [(src, "ACTIVE"), (dst, "INACTIVE")]
    assert http.delete(f"/v2.0/ports/{pid}").status_code == 204
    assert http.delete(f"/v2.0/ports/{plain['id']}").status_code == 204


def test_policy(http: httpx.Client, hosts: list[str], network: dict[str, Any]) -> None:
    """Bindings are Nova's: a project member who owns the port sees none of them (404) and
    may not create them (403); an admin without the service role reads, may not write."""
    src, dst = hosts
    pid = _port(http, network, src)["id"]
    base = f"/v2.0/ports/{pid}/bindings"
    member = member_headers(PROJECT)
    assert http.get(f"/v2.0/ports/{pid}", headers=member).status_code == 200
    neutron_error(http.get(base, headers=member), 404)
    neutron_error(
        http.post(base, json={"binding": {"host": dst}}, headers=member), 403, "PolicyNotAuthorized"
    )
    admin = {"X-Project-Id": "admins", "X-Roles": "admin"}
    assert http.get(base, headers=admin).status_code == 200
    neutron_error(
        http.post(base, json={"binding": {"host": dst}}, headers=admin), 403, "PolicyNotAuthorized"
    )
    service = {"X-Project-Id": "service", "X-Roles": "service"}
    assert http.post(base, json={"binding": {"host": dst}}, headers=service).status_code == 201
    neutron_error(http.delete(f"{base}/{dst}", headers=member), 404)
    neutron_error(http.delete(f"{base}/{dst}", headers=admin), 403, "PolicyNotAuthorized")
    assert http.delete(f"{base}/{dst}", headers=service).status_code == 204
    assert http.delete(f"/v2.0/ports/{pid}").status_code == 204


def test_openstacksdk(
    conn: Any, http: httpx.Client, hosts: list[str], network: dict[str, Any]
) -> None:
    src, dst = hosts
    pid = _port(http, network, src)["id"]
    made = conn.network.create_port_binding(pid, host=dst)
    assert made.host == dst and made.status == "INACTIVE"
    assert sorted(b.host for b in conn.network.port_bindings(pid)) == sorted([src, dst])
    # openstacksdk merges the answer's {"binding": ...} into the listed binding's attributes
    # as one key, so the object it returns keeps the status it was listed with
    assert conn.network.activate_port_binding(pid, host=dst) is not None
    assert conn.network.get_port(pid).binding_host_id == dst
    statuses = {b.host: b.status for b in conn.network.port_bindings(pid)}
    assert statuses == {dst: "ACTIVE", src: "INACTIVE"}
    conn.network.delete_port_binding(pid, src)
    assert [b.host for b in conn.network.port_bindings(pid)] == [dst]
    conn.network.delete_port(pid)


def test_deleting_a_port_drops_its_bindings(
    http: httpx.Client, hosts: list[str], network: dict[str, Any]
) -> None:
    src, dst = hosts
    pid = _port(http, network, src)["id"]
    assert (
        http.post(f"/v2.0/ports/{pid}/bindings", json={"binding": {"host": dst}}).status_code == 201
    )
    assert http.delete(f"/v2.0/ports/{pid}").status_code == 204
    neutron_error(http.get(f"/v2.0/ports/{pid}/bindings"), 404, "PortNotFound")


def test_a_groups_hosts_follow_its_members_bindings(
    server: AlcorServer, http: httpx.Client, hosts: list[str], network: dict[str, Any]
) -> None:
    """Each membership keeps its port's host (`port_security_groups.host`, what a group's
    hosts are read from): through binding, rebinding, a live migration and unbinding."""
    src, dst = hosts
    groups = [
        http.post(
            "/v2.0/security-groups",
            json={"security_group": {"name": f"follow-{i}", "project_id": PROJECT}},
        ).json()["security_group"]["id"]
        for i in range(2)
    ]
    web, other = groups
    pid = _port(http, network, src, security_groups=[web])["id"]
    _port(http, network, "", security_groups=[web])
    engine = sa.create_engine(server.database_url)

    def found() -> dict[str, set[str]]:
        with engine.connect() as conn:
            stale = conn.execute(
                sa.select(build.port_groups_t.c.port_id)
                .join(build.ports_t, build.ports_t.c.id == build.port_groups_t.c.port_id)
                .where(
                    build.port_groups_t.c.host
                    != sa.func.coalesce(build.ports_t.c.binding_host_id, "")
                )
            ).all()
            assert stale == []
            return build.hosts_in_groups(conn, groups)

    try:
        assert found() == {web: {src}}
        http.put(f"/v2.0/ports/{pid}", json={"port": {"binding:host_id": dst}}).raise_for_status()
        assert found() == {web: {dst}}
        made = http.post(f"/v2.0/ports/{pid}/bindings", json={"binding": {"host": src}})
        assert made.status_code == 201, made.text
        assert found() == {web: {src, dst}}  # the destination's inactive binding
        http.put(f"/v2.0/ports/{pid}/bindings/{src}/activate").raise_for_status()
        assert found() == {web: {src, dst}}  # now the source's
        http.delete(f"/v2.0/ports/{pid}/bindings/{dst}").raise_for_status()
        assert found() == {web: {src}}
        moved = http.put(f"/v2.0/ports/{pid}", json={"port": {"security_groups": [other]}})
        moved.raise_for_status()
        assert found() == {other: {src}}
        http.put(f"/v2.0/ports/{pid}", json={"port": {"binding:host_id": ""}}).raise_for_status()
        assert found() == {}
    finally:
        engine.dispose()
