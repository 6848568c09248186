"""Request ids and metrics through the real server process, with simulated hosts as agents:
one request id from the API response to the host's report, and metrics that move with work."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from alcor.api.request_id import ID_FORMAT
from alcor.lab.server_process import AlcorServer
from alcor.southbound.sim import Fleet
from alcor.store.schema import changelog
from tests.support.sim_fleet import running_fleet
from tests.support.waiting import wait_for

CALLER_ID = "req-12345678-1234-4234-9234-123456789abc"


@pytest.fixture(scope="module")
def fleet(server: AlcorServer) -> Iterator[Fleet]:
    """Two simulated hosts on the server's embedded NATS, run on a loop in a thread."""
    with running_fleet(server, "obstest") as hosts:
        yield hosts


def _request_id(resp: httpx.Response) -> str:
    rid = resp.headers.get("x-openstack-request-id")
    assert rid is not None and ID_FORMAT.fullmatch(rid), resp.headers
    return rid


def test_every_response_has_a_request_id(http: httpx.Client) -> None:
    responses = [
        http.get("/"),
        http.get("/v2.0/networks"),
        http.get("/v2.0/networks/0c2b5b8e-0000-4000-8000-000000000000"),  # NeutronError 404
        http.get("/v2.0/no-such-things"),  # unknown collection
        http.get("/nowhere/at/all"),  # no route at all
        http.patch("/v2.0/networks"),  # 405
        http.post("/v2.0/networks", content=b"{not json"),  # 400
        http.get("/metrics"),
    ]
    assert [r.status_code for r in responses] == [200, 200, 404, 404, 404, 405, 400, 200]
    ids = [_request_id(r) for r in responses]
    assert len(set(ids)) == len(ids)


def test_caller_id_is_the_global_id_not_ours(http: httpx.Client) -> None:
    """As oslo.middleware: a well-formed inbound id never replaces the server's own."""
    for inbound in (CALLER_ID, "not-a-request-id", "req-" + "x" * 36):
        resp = http.get("/v2.0/networks", headers={"X-Openstack-Request-Id": inbound})
        assert _request_id(resp) != inbound


def test_one_request_id_from_the_api_to_the_hosts_report(
    server: AlcorServer, http: httpx.Client, fleet: Fleet
) -> None:
    host = sorted(fleet.hosts)[0]
    net = http.post("/v2.0/networks", json={"network": {"name": "obs"}}).json()["network"]
    http.post(
        "/v2.0/subnets",
        json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.61.0.0/24"}},
    )
    created = http.post(
        "/v2.0/ports",
        json={"port": {"network_id": net["id"], "binding:host_id": host}},
        headers={"X-Openstack-Request-Id": CALLER_ID},
    )
    assert created.status_code == 201
    rid = _request_id(created)
    port_id = created.json()["port"]["id"]

    engine = sa.create_engine(server.database_url)
    try:
        with engine.connect() as conn:
            logged = conn.execute(
                sa.select(changelog.c.request_id).where(changelog.c.resource_id == port_id)
            ).scalars()
            assert list(logged) == [rid]
    finally:
        engine.dispose()

    wait_for(
        lambda: http.get(f"/v2.0/ports/{port_id}").json()["port"]["status"] == "ACTIVE",
        what="port ACTIVE",
    )
    timeline = http.get(f"/v2.0/ports/{port_id}/provisioning").json()["provisioning"]
    assert timeline["request_id"] == rid  # what the compiler published
    assert timeline["reported_request_id"] == rid  # what the host says it programmed

    # A later update is another request: its id replaces the first on both sides.
    updated = http.put(f"/v2.0/ports/{port_id}", json={"port": {"name": "renamed"}})
    rid2 = _request_id(updated)
    wait_for(
        lambda: (
            http.get(f"/v2.0/ports/{port_id}/provisioning").json()["provisioning"][
                "reported_request_id"
            ]
            == rid2
        ),
        what="the update's id in the host's report",
    )


def _metrics(http: httpx.Client) -> dict[str, float]:
    resp = http.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}"] = sample.value
    return out


def test_metrics_move_with_work(http: httpx.Client, fleet: Fleet) -> None:
    before = _metrics(http)
    host = sorted(fleet.hosts)[1]
    net = http.post("/v2.0/networks", json={"network": {"name": "met"}}).json()["network"]
    http.post(
        "/v2.0/subnets",
        json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.62.0.0/24"}},
    )
    ports = [
        http.post(
            "/v2.0/ports", json={"port": {"network_id": net["id"], "binding:host_id": host}}
        ).json()["port"]["id"]
        for _ in range(3)
    ]
    http.get(f"/v2.0/ports/{ports[0]}")
    http.get("/v2.0/ports/0c2b5b8e-0000-4000-8000-000000000000")
    wait_for(
        lambda: all(
            http.get(f"/v2.0/ports/{p}").json()["port"]["status"] == "ACTIVE" for p in ports
        ),
        what="ports ACTIVE",
    )
    after = wait_for(
        lambda: (m := _metrics(http))["alcor_changelog_lag_rows{}"] == 0 and m,
        what="the compiler caught up",
    )

    def grew(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    posted = "alcor_api_request_duration_seconds_count{method=POST,route=/v2.0/ports,status=201}"
    assert grew(posted) == 3
    shown = "alcor_api_request_duration_seconds_count{method=GET,route=/v2.0/ports/{rid},"
    assert grew(shown + "status=200}") >= 1 + 3
    assert grew(shown + "status=404}") == 1
    assert grew("alcor_port_commit_to_active_seconds_count{}") >= 3
    assert grew("alcor_compiler_batches_total{}") >= 1
    assert grew("alcor_compiler_publish_seconds_count{}") >= 1
    assert grew("alcor_status_reports_accepted_total{}") >= 3
    assert grew("alcor_ipam_values_total{op=allocate,pool_kind=ip}") == 3  # one per port
    assert grew("alcor_ipam_values_total{op=allocate,pool_kind=vni}") == 1  # the network
    http.delete(f"/v2.0/ports/{ports[2]}")
    released = "alcor_ipam_values_total{op=release,pool_kind=ip}"
    assert _metrics(http).get(released, 0.0) - before.get(released, 0.0) == 1
    assert after["alcor_changelog_head_seq{}"] == after["alcor_compiler_cursor_seq{}"] > 0
    assert after["alcor_agents{state=alive}"] >= 2
    assert "alcor_db_queue_depth{queue=writer}" in after
    assert "alcor_db_pool_connections{state=checked_out}" in after
