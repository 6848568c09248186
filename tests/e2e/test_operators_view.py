"""What operators see, held to the real data plane: the reachability analyzer against real
packets, the agents' metrics moving with their work, one request id from the API to the real
agent's report and the port's trace.

The analyzer: one topology, every case probed.

Three networks on 3 real OVS hosts: A and B joined by a router with an external gateway (SNAT)
to the lab's outside world, C on no router. Six VMs in assorted security groups (a port range
open to all, one to a prefix, a remote group of their own, a group whose egress allows only
ssh), one without port security, two with floating IPs, a port's own network ACL denying ICMP
out (so its echo replies die too: ACLs are stateless) and a subnet ACL on B denying one
address, allowing TCP and ICMP from A only (so B's pings to the outside die on the way back).

Every VM asks every other VM and the outside for icmp, tcp/22 and tcp/80, and the outside
asks every VM (at its floating IP when it has one): 126 cases. Each case is put to
`GET /v2.0/alcor/reachability` and probed for real (ping; a TCP connect with a line echoed by a
listener on every port), concurrently; every verdict must match what the packets did. A
disagreement is probed once more after the others (a late flow would show there, a wrong
verdict would not go away).
"""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alcor.lab.lab import EXTERNAL_ADDRESS, Lab
from alcor.lab.vm import Vm
from tests.e2e.neutron import Api, Scratch
from tests.e2e.traffic import CONNECTED, Listener, connect
from tests.support.waiting import wait_for

pytestmark = pytest.mark.ovs

OUTSIDE = EXTERNAL_ADDRESS.split("/")[0]
SERVICES = ("icmp", "tcp/22", "tcp/80")
ANY_EGRESS = {"direction": "egress"}


class Case(NamedTuple):
    source: str  # VM name or "outside"
    destination: str
    service: str


def _ip(net: str, n: int) -> str:
    return f"10.{net}.0.{n}"


@pytest.fixture(scope="module")
def world(api: Api, lab: Lab) -> Iterator[dict[str, Any]]:
    scratch = Scratch(api, lab)
    listeners: list[Listener] = []
    try:
        ext = scratch.external_network("rx-ext", OUTSIDE)
        nets = {
            name: scratch.network(f"rx-{name}", f"10.{n}.0.0/24", _ip(n, 1))
            for name, n in (("A", "91"), ("B", "92"), ("C", "93"))
        }
        subnet = {
            name: api.call("GET", f"/v2.0/subnets?network_id={net['id']}")["subnets"][0]
            for name, net in nets.items()
        }
        scratch.router(
            "rx",
            [subnet["A"]["id"], subnet["B"]["id"]],
            external_gateway_info={"network_id": ext["id"]},
        )
        ssh = scratch.group("rx-ssh", [{"direction": "ingress", "protocol": "tcp", **_port(22)}])
        web = scratch.group(
            "rx-web",
            [
                {
                    "direction": "ingress",
                    "protocol": "tcp",
                    "remote_ip_prefix": "10.91.0.0/24",
                    **_port(80),
                }
            ],
        )
        ping = scratch.group("rx-ping")
        scratch.rule(ping["id"], direction="ingress", protocol="icmp", remote_group_id=ping["id"])
        ssh_out = scratch.group("rx-ssh-out", [{"direction": "ingress", "protocol": "icmp"}])
        for rule in api.call(
            "GET", f"/v2.0/security-group-rules?security_group_id={ssh_out['id']}"
        )["security_group_rules"]:
            if rule["direction"] == "egress":
                api.delete("security_group_rule", rule["id"])
        scratch.rule(ssh_out["id"], direction="egress", protocol="tcp", **_port(22))

        layout = {
            "a1": ("A", "h1", 11, {"security_groups": [ssh["id"], ping["id"]]}),
            "a2": ("A", "h2", 12, {"security_groups": [web["id"], ping["id"]]}),
            "a3": ("A", "h3", 13, {"security_groups": [ssh_out["id"]]}),
            "b1": ("B", "h1", 21, {"security_groups": [ssh["id"], web["id"], ping["id"]]}),
            "b2": ("B", "h3", 22, {"security_groups": [], "port_security_enabled": False}),
            "c1": ("C", "h2", 31, {"security_groups": [ssh["id"], ping["id"]]}),
        }
        numbers = {"A": "91", "B": "92", "C": "93"}
        vms: dict[str, Vm] = {}
        ips: dict[str, str] = {}
        for name, (net, host, n, attrs) in layout.items():
            ips[name] = _ip(numbers[net], n)
            port = scratch.port(
                nets[net]["id"], host, ips[name], f"fa:16:3e:00:91:{n:02x}", **attrs
            )
            vms[name] = scratch.vm(name, host, port)
        _acl(
            api,
            nets["A"]["id"],
            "rx-no-ping-out",
            [
                {"direction": "egress", "number": 10, "action": "deny", "protocol": "icmp"},
                {"direction": "egress", "number": 20, "action": "allow"},
                {"direction": "ingress", "number": 10, "action": "allow"},
            ],
            ports=[vms["a2"].port_id],
        )
        _acl(
            api,
            nets["B"]["id"],
            "rx-b",
            [
                {
                    "direction": "ingress",
                    "number": 10,
                    "action": "deny",
                    "protocol": "tcp",
                    "ip_prefix": f"{_ip('91', 12)}/32",
                },
                {"direction": "ingress", "number": 20, "action": "allow", "protocol": "tcp"},
                {
                    "direction": "ingress",
                    "number": 30,
                    "action": "allow",
                    "protocol": "icmp",
                    "ip_prefix": "10.91.0.0/24",
                },
                {"direction": "egress", "number": 10, "action": "allow"},
            ],
            subnets=[subnet["B"]["id"]],
        )
        fips = {
            name: api.create("floatingip", floating_network_id=ext["id"], port_id=vms[name].port_id)
            for name in ("a1", "b1")
        }
        for vm in vms.values():
            api.wait_status(vm.port_id, "ACTIVE")
        for fip in fips.values():
            wait_for(lambda f=fip: api.get("floatingip", f["id"])["status"] == "ACTIVE", 20)
        for where in [*vms.values(), lab.external_ns]:
            listeners.append(Listener(where, 22, 80))
        yield {"vms": vms, "ips": ips, "fips": fips, "ext_ns": lab.external_ns}
    finally:
        for listener in listeners:
            listener.stop()
        for acl in api.call("GET", "/v2.0/network-acls")["network_acls"]:
            if acl["name"].startswith("rx-"):
                api.update("network_acl", acl["id"], subnets=[], ports=[])
                api.delete("network_acl", acl["id"])
        scratch.cleanup()


def _port(number: int) -> dict[str, int]:
    return {"port_range_min": number, "port_range_max": number}


def _acl(
    api: Api, network_id: str, name: str, rules: list[dict[str, Any]], **attrs: Any
) -> dict[str, Any]:
    made = api.create("network_acl", network_id=network_id, name=name, **attrs)
    for rule in rules:
        api.create("network_acl_rule", network_acl_id=made["id"], **rule)
    return made


def _cases(names: list[str]) -> list[Case]:
    ends = [*names, "outside"]
    return [
        Case(s, d, service)
        for s in ends
        for d in names + (["outside"] if s != "outside" else [])
        if s != d
        for service in SERVICES
    ]


def _question(world: dict[str, Any], case: Case) -> dict[str, str]:
    vms = world["vms"]
    source = OUTSIDE if case.source == "outside" else vms[case.source].port_id
    destination = OUTSIDE if case.destination == "outside" else vms[case.destination].port_id
    protocol, _, port = case.service.partition("/")
    return {"source": source, "destination": destination, "protocol": protocol, "port": port}


def _probe(world: dict[str, Any], case: Case) -> bool:
    """What the packets do: a ping answered, or a TCP connection with its line echoed."""
    vms = world["vms"]
    where = world["ext_ns"] if case.source == "outside" else vms[case.source].ns
    if case.destination == "outside":
        target = OUTSIDE
    elif case.source == "outside" and case.destination in world["fips"]:
        target = world["fips"][case.destination]["floating_ip_address"]
    else:
        target = world["ips"][case.destination]
    protocol, _, port = case.service.partition("/")
    if protocol == "icmp":
        cmd = ["ip", "netns", "exec", where, "ping", "-c", "2", "-i", "0.3", "-W", "1", target]
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
    return connect(where, target, int(port), timeout=1.5) == CONNECTED


def test_the_analyzer_agrees_with_real_packets(api: Api, world: dict[str, Any]) -> None:
    cases = _cases(sorted(world["vms"]))
    assert len(cases) >= 100
    verdicts = {}
    for case in cases:
        answer = api.call("GET", "/v2.0/alcor/reachability", None, params=_question(world, case))
        verdicts[case] = answer["reachability"]
    assert all(v["reachable"] is not None for v in verdicts.values())
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        seen = dict(zip(cases, pool.map(lambda c: _probe(world, c), cases), strict=True))
    for case in [c for c in cases if seen[c] != verdicts[c]["reachable"]]:
        seen[case] = _probe(world, case)
    wrong = [
        f"{c.source} -> {c.destination} {c.service}: packets {'pass' if seen[c] else 'blocked'}, "
        f"analyzer: {verdicts[c]['summary']}"
        for c in cases
        if seen[c] != verdicts[c]["reachable"]
    ]
    assert not wrong, "\n".join(wrong)
    assert any(seen.values()) and not all(seen.values())
    # what blocked them, by kind of hop: every kind of cause is covered
    kinds = {v["decided_by"]["hop"] for v in verdicts.values() if v["decided_by"]}
    assert {"security_groups", "network_acl", "route", "floating_ip"} <= kinds, kinds


def test_alcor_why_names_the_deciding_rule(api: Api, world: dict[str, Any]) -> None:
    """a2 cannot reach b1's ssh: B's ACL rule 10 denies its address (exit 3, blocked)."""
    vms = world["vms"]
    args = ["why", vms["a2"].port_id, vms["b1"].port_id, "tcp/22", "--url", str(api.http.base_url)]
    proc = subprocess.run(
        [sys.executable, "-m", "alcor", *args, "--json"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 3, proc.stderr
    decided = json.loads(proc.stdout)["decided_by"]
    assert decided["hop"] == "network_acl" and decided["rule"]["number"] == 10
    table = subprocess.run(
        [sys.executable, "-m", "alcor", *args], capture_output=True, text=True, timeout=60
    )
    assert "rule 10 denies it" in table.stdout


def test_one_request_id_from_the_api_to_the_real_agents_report(
    api: Api, world: dict[str, Any]
) -> None:
    """A port update's request id reaches the agent and comes back in its report, and the
    port's trace shows every step up to ACTIVE (the real agent's stamps)."""
    port_id = world["vms"]["a1"].port_id
    resp = api.http.put(f"/v2.0/ports/{port_id}", json={"port": {"name": "rx-renamed"}})
    rid = resp.headers["x-openstack-request-id"]
    trace = wait_for(
        lambda: (
            (t := api.call("GET", f"/v2.0/ports/{port_id}/trace")["trace"])["reported_request_id"]
            == rid
            and t
        ),
        20,
        "the agent's report of the update",
    )
    assert trace["request_id"] == rid and trace["status"] == "ACTIVE"
    done = [s["step"] for s in trace["steps"] if s["at"] is not None]
    assert done[:7] == ["request", "commit", "compile", "publish", "receipt", "program", "report"]


def _agent_metrics(lab: Lab, host: str) -> dict[str, float]:
    url = lab.hosts[host].metrics_url
    assert url is not None
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    return {
        f"{s.name}{{{','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))}}}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_agent_metrics_move_with_work(api: Api, lab: Lab) -> None:
    """A VM booted on h1 (its port, DHCP) moves h1's programming rounds, their durations,
    its DHCP replies and its port flows; connections and resyncs are there from the start."""
    before = _agent_metrics(lab, "h1")
    assert before["alcor_agent_connections_total{connection=ovsdb}"] >= 1
    assert before["alcor_agent_connections_total{connection=openflow}"] >= 1
    assert before["alcor_agent_connections_total{connection=nats}"] >= 1
    assert before["alcor_agent_resyncs_total{stream=host}"] >= 1
    scratch = Scratch(api, lab)
    try:
        net = scratch.network("rx-metrics", "10.94.0.0/24", "10.94.0.1")
        port = scratch.port(net["id"], "h1", "10.94.0.10", "fa:16:3e:00:94:10")
        scratch.vm("metrics", "h1", port)
        api.wait_status(port["id"], "ACTIVE")
        after = _agent_metrics(lab, "h1")
    finally:
        scratch.cleanup()

    def grew(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert grew("alcor_agent_programming_rounds_total{kind=incremental,outcome=ok}") >= 1
    assert grew("alcor_agent_programming_seconds_count{kind=incremental}") >= 1
    assert grew("alcor_agent_dhcp_replies_total{}") >= 2  # an offer and an ack
    assert grew("alcor_agent_flows{owner_kind=port}") > 0
    assert grew("alcor_agent_ports{}") == 1
