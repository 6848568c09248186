"""The Keystone part of the API benchmark (`benchmarks/api.py --keystone`): what token
validation and Neutron's policy cost a request.

Three figures, each against a real Keystone (tests/support/keystone.py) and two servers on
the same data, one with `auth_strategy = keystone` and one in noauth:

* a cached token: p50 of showing one network as the admin with a token (validated before)
  minus the same request header-less in noauth; the issue's bound is 0.3 ms;
* first sight of a token: p50 of the first request with a fresh token (validation by
  Keystone included) minus a cached one; bound 10 ms;
* listing 1,000 ports as a member of their project, with the policy checked per port and
  per field, over the same list as the admin in noauth; bound 1.3x.
"""

from __future__ import annotations

import statistics
import time
from typing import Any
from urllib.parse import urlsplit

from alcor.lab.server_process import AlcorServer
from benchmarks.httpload import Connection
from tests.support.keystone import Keystone

PORTS = 1000


async def _timed(url: str, path: str, headers: list[dict[str, str]]) -> list[float]:
    """Milliseconds of GET `path` once per header set, on one kept-open connection."""
    parts = urlsplit(url)
    conn = Connection(parts.hostname or "127.0.0.1", parts.port or 80)
    await conn.open()
    times = []
    try:
        for h in headers:
            t0 = time.perf_counter()
            status, data = await conn.request("GET", path, headers=h)
            times.append((time.perf_counter() - t0) * 1000)
            assert status == 200, data[:300]
    finally:
        conn.close()
    return times


async def _paired(
    a: tuple[str, str, dict[str, str]], b: tuple[str, str, dict[str, str]], runs: int
) -> tuple[list[float], list[float]]:
    """`runs` timings each of two requests (url, path, headers), in alternating batches of
    five, so that a change in the machine's load falls on both alike."""
    first: list[float] = []
    second: list[float] = []
    for _ in range(max(1, runs // 5)):
        first += await _timed(a[0], a[1], [a[2]] * 5)
        second += await _timed(b[0], b[1], [b[2]] * 5)
    return first, second


def _p50(times: list[float]) -> float:
    return round(statistics.median(times), 3)


def _populate(url: str, project: str, call: Any) -> str:
    """A network of `project` with PORTS ports, made by the admin (`call` carries its
    credentials), so both servers hold the same data."""
    call(url, "PUT", f"/v2.0/quotas/{project}", {"quota": {"port": -1}})
    net = call(url, "POST", "/v2.0/networks", {"network": {"name": "b", "project_id": project}})
    net_id = net["network"]["id"]
    call(
        url,
        "POST",
        "/v2.0/subnets",
        {
            "subnet": {
                "network_id": net_id,
                "cidr": "10.9.0.0/20",
                "ip_version": 4,
                "project_id": project,
            }
        },
    )
    body = {"ports": [{"network_id": net_id, "project_id": project} for _ in range(PORTS)]}
    call(url, "POST", "/v2.0/ports", body)
    return str(net_id)


async def run(call: Any, quick: bool) -> dict[str, Any]:
    runs = 100 if quick else 400
    fresh = 30 if quick else 100
    ks = Keystone().start()
    try:
        demo = ks.projects["demo"]
        with AlcorServer() as plain, AlcorServer(extra_env=ks.server_env()) as guarded:
            net_plain = _populate(plain.url, demo, call)
            admin = ks.token("admin")
            as_admin = {"X-Auth-Token": admin}
            net_guarded = _populate(guarded.url, demo, lambda *a: call(*a, headers=as_admin))
            show_plain, show_cached = await _paired(
                (plain.url, f"/v2.0/networks/{net_plain}", {}),
                (guarded.url, f"/v2.0/networks/{net_guarded}", as_admin),
                runs,
            )
            tokens = [{"X-Auth-Token": ks.token("admin")} for _ in range(fresh)]
            first = await _timed(guarded.url, f"/v2.0/networks/{net_guarded}", tokens)
            validate = _keystone_validations(ks, fresh)
            member = {"X-Auth-Token": ks.token("member1")}
            list_runs = max(20, runs // 10)
            list_admin, list_member = await _paired(
                (plain.url, "/v2.0/ports", {}), (guarded.url, "/v2.0/ports", member), list_runs
            )
            noauth_member = {"X-Project-Id": demo, "X-Roles": "member"}
            _, list_noauth_member = await _paired(
                (plain.url, "/v2.0/ports", {}), (plain.url, "/v2.0/ports", noauth_member), list_runs
            )
            member_count = len(call(guarded.url, "GET", "/v2.0/ports", headers=member)["ports"])
    finally:
        ks.stop()
    assert member_count == PORTS
    return {
        "show_network_noauth_p50_ms": _p50(show_plain),
        "show_network_cached_token_p50_ms": _p50(show_cached),
        "cached_token_overhead_ms": round(_p50(show_cached) - _p50(show_plain), 3),
        "first_sight_p50_ms": _p50(first),
        "first_sight_overhead_ms": round(_p50(first) - _p50(show_cached), 3),
        "keystone_validate_p50_ms": _p50(validate),
        "list_1000_ports_admin_noauth_p50_ms": _p50(list_admin),
        "list_1000_ports_member_keystone_p50_ms": _p50(list_member),
        "list_ratio": round(_p50(list_member) / _p50(list_admin), 3),
        "list_1000_ports_member_noauth_p50_ms": _p50(list_noauth_member),
        "runs": runs,
        "fresh_tokens": fresh,
    }


def _keystone_validations(ks: Keystone, count: int) -> list[float]:
    """Milliseconds of Keystone's own answer to a validation of a new token (what the first
    sight of a token waits for), the way the server asks."""
    import httpx

    service = ks.token("neutron")
    subjects = [ks.token("member1") for _ in range(count)]
    times = []
    with httpx.Client(timeout=30) as client:
        for token in subjects:
            t0 = time.perf_counter()
            resp = client.get(
                f"{ks.url}/auth/tokens?nocatalog",
                headers={"X-Auth-Token": service, "X-Subject-Token": token},
            )
            times.append((time.perf_counter() - t0) * 1000)
            assert resp.status_code == 200, resp.text
    return times


def print_table(res: dict[str, Any]) -> None:
    rows = [
        ("show network, noauth admin p50", res["show_network_noauth_p50_ms"], ""),
        ("show network, cached token p50", res["show_network_cached_token_p50_ms"], ""),
        ("cached token adds", res["cached_token_overhead_ms"], "<= 0.3 ms"),
        ("first request with a new token p50", res["first_sight_p50_ms"], ""),
        ("first sight adds", res["first_sight_overhead_ms"], "<= 10 ms"),
        ("  of which Keystone's validation p50", res["keystone_validate_p50_ms"], ""),
        ("list 1,000 ports, admin noauth p50", res["list_1000_ports_admin_noauth_p50_ms"], ""),
        (
            "list 1,000 ports, member + policy p50",
            res["list_1000_ports_member_keystone_p50_ms"],
            "",
        ),
        ("ratio member/admin", res["list_ratio"], "<= 1.3"),
        ("list 1,000 ports, member in noauth p50", res["list_1000_ports_member_noauth_p50_ms"], ""),
    ]
    print("\n== Keystone and policy ==")
    print(f"{'measure':42} {'value':>10}  bound")
    for name, value, bound in rows:
        print(f"{name:42} {value:>10}  {bound}")
