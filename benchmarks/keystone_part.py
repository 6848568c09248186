"""The Keystone part of the API benchmark (`benchmarks/api.py --keystone`): what token
validation and Neutron's policy cost a request.

Three figures, each against a real Keystone (tests/support/keystone.py) and two servers on
the same data, one with `auth_strategy = keystone` and one in noauth:

* a cached token: p50 of showing one network as the admin with a token (validated before)
  minus the same request header-less in noauth; the issue's bound is 0.3 ms;
* first sight of a token: p50 of the first request with a new token minus the same request
  with a cached one; bound 10 ms. Split, in the same run and token by token, into Keystone's
  own answer (the same validation call made directly, with the server's client, for a twin
  token of the same user) and ours (the rest), and as CPU: the server's per request (first
  sight over cached) and Keystone's worker's per validation;
* listing 1,000 ports as a member of their project, with the policy checked per port and
  per field, over the same list as the admin in noauth; bound 1.3x. Rounds alternate the
  servers and callers; each round's ratio is kept (the spread), and each server's CPU per
  list.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alcor.api.keystone_http import KeystoneHTTP
from alcor.lab.server_process import AlcorServer
from benchmarks.httpload import Connection
from tests.support.keystone import Keystone

PORTS = 1000
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _cpu_ms(pid: int) -> float:
    """CPU time (user + system) `pid` has used so far, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_MS


def _child(pid: int) -> int:
    """gunicorn's one worker (the process that answers)."""
    return int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])


class _Timed:
    """GET requests on one kept-open connection, timed in milliseconds."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = Connection(parts.hostname or "127.0.0.1", parts.port or 80)

    async def __aenter__(self) -> _Timed:
        await self.conn.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.conn.close()

    async def get(self, path: str, headers: dict[str, str]) -> float:
        t0 = time.perf_counter()
        status, data = await self.conn.request("GET", path, headers=headers)
        took = (time.perf_counter() - t0) * 1000
        assert status == 200, data[:300]
        return took


async def _batches(
    callers: dict[str, tuple[str, str, dict[str, str], int]], rounds: int, per_round: int
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, float]]:
    """Rounds of `per_round` GETs by each caller (name: url, path, headers, server pid) in
    turn, so that a change in the machine's load falls on all alike: every time, each
    round's p50, and the server's CPU per request."""
    times: dict[str, list[float]] = {name: [] for name in callers}
    rounds_p50: dict[str, list[float]] = {name: [] for name in callers}
    cpu: dict[str, float] = dict.fromkeys(callers, 0.0)
    for _ in range(rounds):
        for name, (url, path, headers, pid) in callers.items():
            async with _Timed(url) as conn:
                before = _cpu_ms(pid)
                got = [await conn.get(path, headers) for _ in range(per_round)]
                cpu[name] += _cpu_ms(pid) - before
            times[name] += got
            rounds_p50[name].append(statistics.median(got))
    total = rounds * per_round
    return times, rounds_p50, {name: round(c / total, 3) for name, c in cpu.items()}


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


async def _first_sight(
    ks: Keystone, url: str, path: str, server_pid: int, count: int
) -> dict[str, Any]:
    """`count` triples, interleaved: Keystone validating a new token directly (as the server
    asks), the server seeing another new token of the same user, then the same again."""
    service = ks.token("neutron")
    pairs = [(ks.token("member1"), ks.token("member1")) for _ in range(count)]
    keystone_pid = _child(ks.proc.pid if ks.proc else 0)
    direct = KeystoneHTTP(ks.url, 30)
    valid: list[float] = []
    first: list[float] = []
    cached: list[float] = []
    ours: list[float] = []
    cpu = {"keystone": 0.0, "first": 0.0, "cached": 0.0}
    async with _Timed(url) as conn:
        for twin, token in pairs:
            before = _cpu_ms(keystone_pid)
            t0 = time.perf_counter()
            resp = await direct.request(
                "GET", "/auth/tokens?nocatalog", {"X-Auth-Token": service, "X-Subject-Token": twin}
            )
            valid.append((time.perf_counter() - t0) * 1000)
            cpu["keystone"] += _cpu_ms(keystone_pid) - before
            assert resp.status == 200, resp.body[:300]
            for kind, times in (("first", first), ("cached", cached)):
                before = _cpu_ms(server_pid)
                times.append(await conn.get(path, {"X-Auth-Token": token}))
                cpu[kind] += _cpu_ms(server_pid) - before
            ours.append(first[-1] - cached[-1] - valid[-1])
    await direct.aclose()
    return {
        "first_sight_p50_ms": _p50(first),
        "cached_p50_ms": _p50(cached),
        "first_sight_overhead_ms": round(_p50(first) - _p50(cached), 3),
        "keystone_validate_p50_ms": _p50(valid),
        "ours_p50_ms": _p50(ours),
        "keystone_cpu_per_validation_ms": round(cpu["keystone"] / count, 3),
        "server_cpu_first_sight_ms": round(cpu["first"] / count, 3),
        "server_cpu_cached_ms": round(cpu["cached"] / count, 3),
    }


async def run(call: Any, quick: bool) -> dict[str, Any]:
    rounds = 20 if quick else 80
    fresh = 30 if quick else 100
    list_rounds = 6 if quick else 15
    ks = Keystone().start()
    try:
        demo = ks.projects["demo"]
        with AlcorServer() as plain, AlcorServer(extra_env=ks.server_env()) as guarded:
            assert plain.proc and guarded.proc
            net_plain = _populate(plain.url, demo, call)
            admin = {"X-Auth-Token": ks.token("admin")}
            net_guarded = _populate(guarded.url, demo, lambda *a: call(*a, headers=admin))
            member = {"X-Auth-Token": ks.token("member1")}
            show, _, _ = await _batches(
                {
                    "noauth": (plain.url, f"/v2.0/networks/{net_plain}", {}, plain.proc.pid),
                    "token": (
                        guarded.url,
                        f"/v2.0/networks/{net_guarded}",
                        admin,
                        guarded.proc.pid,
                    ),
                },
                rounds,
                5,
            )
            sight = await _first_sight(
                ks, guarded.url, f"/v2.0/networks/{net_guarded}", guarded.proc.pid, fresh
            )
            noauth_member = {"X-Project-Id": demo, "X-Roles": "member"}
            lists, lists_p50, lists_cpu = await _batches(
                {
                    "admin_noauth": (plain.url, "/v2.0/ports", {}, plain.proc.pid),
                    "member_keystone": (guarded.url, "/v2.0/ports", member, guarded.proc.pid),
                    "admin_keystone": (guarded.url, "/v2.0/ports", admin, guarded.proc.pid),
                    "member_noauth": (plain.url, "/v2.0/ports", noauth_member, plain.proc.pid),
                },
                list_rounds,
                5,
            )
            member_count = len(call(guarded.url, "GET", "/v2.0/ports", headers=member)["ports"])
    finally:
        ks.stop()
    assert member_count == PORTS
    ratios = [
        m / a for m, a in zip(lists_p50["member_keystone"], lists_p50["admin_noauth"], strict=True)
    ]
    return {
        "show_network_noauth_p50_ms": _p50(show["noauth"]),
        "show_network_cached_token_p50_ms": _p50(show["token"]),
        "cached_token_overhead_ms": round(_p50(show["token"]) - _p50(show["noauth"]), 3),
        **sight,
        **{f"list_1000_ports_{name}_p50_ms": _p50(times) for name, times in lists.items()},
        **{f"list_1000_ports_{name}_cpu_ms": cpu for name, cpu in lists_cpu.items()},
        "list_ratio": round(_p50(lists["member_keystone"]) / _p50(lists["admin_noauth"]), 3),
        "list_ratio_rounds_min": round(min(ratios), 3),
        "list_ratio_rounds_max": round(max(ratios), 3),
        "list_cpu_ratio": round(lists_cpu["member_keystone"] / lists_cpu["admin_noauth"], 3),
        "rounds": rounds,
        "fresh_tokens": fresh,
        "list_rounds": list_rounds,
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
    }


def print_table(res: dict[str, Any]) -> None:
    lists = [
        (f"list 1,000 ports, {who} p50 / server CPU", f"list_1000_ports_{key}")
        for who, key in (
            ("admin noauth", "admin_noauth"),
            ("member + token + policy", "member_keystone"),
            ("admin + token", "admin_keystone"),
            ("member noauth", "member_noauth"),
        )
    ]
    rows = [
        ("show network, noauth admin p50", res["show_network_noauth_p50_ms"], ""),
        ("show network, cached token p50", res["show_network_cached_token_p50_ms"], ""),
        ("cached token adds", res["cached_token_overhead_ms"], "<= 0.3 ms"),
        ("first request with a new token p50", res["first_sight_p50_ms"], ""),
        ("first sight adds", res["first_sight_overhead_ms"], "<= 10 ms"),
        ("  Keystone's validation p50", res["keystone_validate_p50_ms"], ""),
        ("  ours (per token, the rest) p50", res["ours_p50_ms"], ""),
        ("  Keystone worker CPU per validation", res["keystone_cpu_per_validation_ms"], ""),
        (
            "  server CPU, first sight / cached",
            f"{res['server_cpu_first_sight_ms']} / {res['server_cpu_cached_ms']}",
            "",
        ),
        *((name, f"{res[key + '_p50_ms']} / {res[key + '_cpu_ms']}", "") for name, key in lists),
        ("ratio member/admin (p50)", res["list_ratio"], "<= 1.3"),
        (
            "  per round, min - max",
            f"{res['list_ratio_rounds_min']} - {res['list_ratio_rounds_max']}",
            "",
        ),
        ("  ratio of server CPU", res["list_cpu_ratio"], ""),
        ("load average at the end", " ".join(res["load_average"]), ""),
    ]
    print("\n== Keystone and policy ==")
    print(f"{'measure':52} {'value':>17}  bound")
    for name, value, bound in rows:
        print(f"{name:52} {value!s:>17}  {bound}")
