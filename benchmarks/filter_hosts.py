"""Which hosts a change of a big security group or of a big network's ACL goes to, and what
finding them costs the compiler (not in CI).

Why: a change of a group's or an ACL's rules goes to every host using it, and while the
compiler looks for them it publishes nothing else. This builds a real SQLite database
(`alcor.db` schema) with `--ports` bound ports on `--hosts` hosts, all in one group and on
one network with its default ACL, and times, `--repeat` times each:

  group hosts  `build.hosts_in_groups` for the group: a skip scan of its members' (group,
               host) index
  group ports  the same hosts as `build` found them before: a DISTINCT over every member
               joined with its port (`EVERY_MEMBER`): the comparison
  rule batch   a rule added to the group -> its compile batch built (`compile_batch`)
  acl hosts    `build.hosts_using_acls` for the network's default ACL: a skip scan of the
               network's hosts
  acl ports    the same hosts as `build` found them before: a DISTINCT over every port of
               the network with its effective ACL (`EVERY_PORT`): the comparison

Results: benchmarks/results/filter-hosts.json (`--plot`: filter-hosts.png).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import track
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from alcor.southbound import build, compiler  # noqa: E402
from alcor.store.db import Database  # noqa: E402
from alcor.store.prepared import SelectIn  # noqa: E402
from benchmarks import plots  # noqa: E402
from tests.scale import southbound_rows as rows  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "filter-hosts.json"
CHUNK = 10_000  # ports per transaction while filling
_target = build.acls_t.alias("target_acl")
EVERY_PORT = SelectIn(
    sa.select(_target.c.id, build.ports_t.c.binding_host_id)
    .select_from(
        build.PORTS_WITH_ACL.join(_target, _target.c.network_id == build.ports_t.c.network_id)
    )
    .where(build.ports_t.c.binding_host_id != "", _target.c.id == build.PORT_ACL)
    .distinct(),
    _target.c.id,
)

EVERY_MEMBER = SelectIn(
    sa.select(build.port_groups_t.c.security_group_id, build.ports_t.c.binding_host_id)
    .select_from(
        build.port_groups_t.join(build.ports_t, build.ports_t.c.id == build.port_groups_t.c.port_id)
    )
    .where(build.ports_t.c.binding_host_id != "")
    .distinct(),
    build.port_groups_t.c.security_group_id,
)


def _fill(db: Database, ports: int, hosts: int) -> tuple[str, str]:
    """`ports` ports on `hosts` hosts, all in one new group, on one network with its default
    ACL, compiled; the group's and the ACL's ids."""
    nid, sid = db.write_sync(rows.new_network, 170, "10.64.0.0/10")
    gid = db.write_sync(rows.new_group)
    acl = db.write_sync(rows.new_acl, nid, True)
    for start in track(range(0, ports, CHUNK), description="ports", transient=True):
        db.write_sync(
            lambda uow, first=start: [
                rows.new_port(uow, nid, sid, i, f"host-{i % hosts:05d}", (gid,))
                for i in range(first, min(ports, first + CHUNK))
            ]
        )
    while _compile(db) is not None:
        pass
    return gid, acl


def _compile(db: Database) -> compiler.Batch | None:
    cursor = db.read_sync(compiler._read_cursor)
    batch = db.read_sync(compiler.compile_batch, cursor, 5000)
    if batch is not None:
        db.write_sync(compiler.advance, batch, None, batch.compiled_at)
    return batch


def _ms(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2)}


def measure(ports: int, hosts: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{os.path.join(tmp, 'groups.db')}")
        try:
            rows.create_schema(db)
            gid, acl = _fill(db, ports, hosts)
            for fn, key in ((build.hosts_in_groups, gid), (build.hosts_using_acls, acl)):
                found = db.read_sync(fn, [key])
                if len(found.get(key, ())) != min(ports, hosts):
                    raise RuntimeError(f"{len(found.get(key, ()))} hosts found, not {hosts}")

            def rule_batch() -> None:
                db.write_sync(rows.new_rule, gid)
                batch = _compile(db)
                if batch is None or not batch.messages:
                    raise RuntimeError("the rule's batch published nothing")

            return {
                "group_hosts": _ms(lambda: db.read_sync(build.hosts_in_groups, [gid]), repeat),
                "group_ports": _ms(
                    lambda: db.read_sync(build.rows_in, EVERY_MEMBER, [gid]), repeat
                ),
                "rule_batch": _ms(rule_batch, repeat),
                "acl_hosts": _ms(lambda: db.read_sync(build.hosts_using_acls, [acl]), repeat),
                "acl_ports": _ms(lambda: db.read_sync(build.rows_in, EVERY_PORT, [acl]), repeat),
            }
        finally:
            db.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ports", type=int, default=100_000, help="ports, all in the group")
    ap.add_argument("--hosts", type=int, default=100, help="hosts they are bound on")
    ap.add_argument("--repeat", type=int, default=9, help="times each measure is taken")
    ap.add_argument("--json", default=str(RESULTS))
    plots.add_flag(ap)
    args = ap.parse_args()
    results = measure(args.ports, args.hosts, args.repeat)
    table = Table(f"{args.ports:,} ports on {args.hosts} hosts", "p50", "max")
    for name, r in results.items():
        table.add_row(name, f"{r['p50_ms']} ms", f"{r['max_ms']} ms")
    Console().print(table)
    plots.save_stamped(
        args.json,
        {
            "ports": args.ports,
            "hosts": args.hosts,
            "results": results,
        },
        args.plot,
    )


if __name__ == "__main__":
    main()
