"""The compiler's decisions, checked on a real SQLite database without NATS."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from alcor.resources.declarations.network_acl import acl_ports, acl_subnets
from alcor.southbound import build, compiler
from alcor.southbound.portstatus import lock_ports, set_status
from alcor.southbound.protocol import goalstate_pb2 as pb
from alcor.southbound.protocol import subjects
from alcor.southbound.rpc import register_hosts, write_heartbeats
from alcor.southbound.status import apply_reports, sweep_dead_hosts
from alcor.southbound.translate import Context
from alcor.store.db import Database, UnitOfWork
from alcor.store.provisioning import timeline
from alcor.store.schema import hosts
from tests.scale import southbound_rows as rows


def compile_and_advance(db: Database) -> compiler.Batch:
    cursor = db.read_sync(compiler._read_cursor)
    batch = db.read_sync(compiler.compile_batch, cursor, 1000)
    assert batch is not None
    db.write_sync(compiler.advance, batch, None, batch.compiled_at)
    return batch


def test_port_goes_once_to_its_host_and_once_to_its_network(db: Database) -> None:
    nid, sid = db.write_sync(rows.new_network, 100)
    compile_and_advance(db)  # network + subnet without ports: nothing for any host
    pid = db.write_sync(rows.new_port, nid, sid, 1, "h1")
    batch = compile_and_advance(db)
    assert set(batch.messages) == {subjects.host("h1"), subjects.network(nid)}
    host_msg = batch.messages[subjects.host("h1")]
    assert [p.id for p in host_msg.ports] == [pid]
    assert [n.id for n in host_msg.networks] == [nid]
    assert [s.id for s in host_msg.subnets] == [sid]
    neigh = batch.messages[subjects.network(nid)]
    assert [n.port_id for n in neigh.neighbors] == [pid]
    assert host_msg.prev_seq == 0 or host_msg.prev_seq < host_msg.seq


def test_prev_seq_chains_per_subject(db: Database) -> None:
    nid, sid = db.write_sync(rows.new_network, 101)
    db.write_sync(rows.new_port, nid, sid, 1, "h1")
    first = compile_and_advance(db)
    db.write_sync(rows.new_port, nid, sid, 2, "h1")
    second = compile_and_advance(db)
    subject = subjects.host("h1")
    assert second.prev[subject] == first.messages[subject].seq


def test_rebinding_deletes_on_the_old_host(db: Database) -> None:
    nid, sid = db.write_sync(rows.new_network, 102)
    pid = db.write_sync(rows.new_port, nid, sid, 1, "h1")
    compile_and_advance(db)
    db.write_sync(rows.update_port, pid, {"binding_host_id": "h2"})
    batch = compile_and_advance(db)
    old = batch.messages[subjects.host("h1")].ports
    assert [(p.id, p.op) for p in old] == [(pid, pb.DELETE)]
    new = batch.messages[subjects.host("h2")].ports
    assert [(p.id, p.op, p.host_id) for p in new] == [(pid, pb.UPSERT, "h2")]
    neigh = batch.messages[subjects.network(nid)].neighbors
    assert [(n.port_id, n.host_id) for n in neigh] == [(pid, "h2")]


def test_deleted_port_yields_deletes_from_the_log_alone(db: Database) -> None:
    nid, sid = db.write_sync(rows.new_network, 103)
    pid = db.write_sync(rows.new_port, nid, sid, 1, "h1")
    compile_and_advance(db)
    db.write_sync(rows.delete_port, pid)
    batch = compile_and_advance(db)
    assert [(p.id, p.op) for p in batch.messages[subjects.host("h1")].ports] == [(pid, pb.DELETE)]
    assert [(n.port_id, n.op) for n in batch.messages[subjects.network(nid)].neighbors] == [
        (pid, pb.DELETE)
    ]


def test_a_rule_change_goes_once_to_exactly_the_hosts_with_a_port_in_its_group(
    db: Database,
) -> None:
    web, other = db.write_sync(rows.new_group, "web"), db.write_sync(rows.new_group, "other")
    nid, sid = db.write_sync(rows.new_network, 120)
    db.write_sync(rows.new_port, nid, sid, 1, "h1", (web,))
    db.write_sync(rows.new_port, nid, sid, 2, "h2", (web, other))
    db.write_sync(rows.new_port, nid, sid, 3, "h2", (web,))
    db.write_sync(rows.new_port, nid, sid, 4, "h3", (other,))
    db.write_sync(rows.new_port, nid, sid, 5, "", (web,))  # unbound: no host to tell
    first = compile_and_advance(db)
    on_h2 = first.messages[subjects.host("h2")].security_groups
    assert sorted(g.id for g in on_h2) == sorted([web, other])  # once each, with the ports
    rid = db.write_sync(
        rows.new_rule, web, {"protocol": "tcp", "port_range_min": 22, "port_range_max": 22}
    )
    batch = compile_and_advance(db)
    assert set(batch.messages) == {subjects.host("h1"), subjects.host("h2")}
    for h in ("h1", "h2"):
        msg = batch.messages[subjects.host(h)]
        assert not msg.ports and [g.id for g in msg.security_groups] == [web]
        [rule] = msg.security_groups[0].rules
        assert (rule.id, rule.protocol, rule.port_range_min, rule.port_range_max) == (
            rid,
            "6",
            22,
            22,
        )
    db.write_sync(rows.delete_rule, rid)
    batch = compile_and_advance(db)
    # The log row names the group the rule left: only its hosts hear of it.
    assert set(batch.messages) == {subjects.host("h1"), subjects.host("h2")}
    web_now = [g for g in batch.messages[subjects.host("h1")].security_groups if g.id == web]
    assert [list(g.rules) for g in web_now] == [[]]


def test_rules_reach_hosts_normalised() -> None:
    icmp = {
        "id": "r",
        "direction": "ingress",
        "ethertype": "IPv4",
        "protocol": "icmp",
        "port_range_min": 0,
        "port_range_max": None,
        "normalized_cidr": "10.0.0.0/8",
        "remote_group_id": None,
    }
    rule = build.rule_state(icmp)  # type: ignore[arg-type]
    assert rule.protocol == "1" and rule.remote_ip_prefix == "10.0.0.0/8"
    assert rule.HasField("icmp_type") and rule.icmp_type == 0  # echo reply, not "any"
    assert not rule.HasField("icmp_code") and rule.port_range_min == rule.port_range_max == 0
    anything = build.rule_state({**icmp, "protocol": None, "port_range_min": None})  # type: ignore[arg-type]
    assert anything.protocol == "" and not anything.HasField("icmp_type")


def test_a_full_host_state_holds_its_groups_and_the_address_sets_they_need(db: Database) -> None:
    web, admins = db.write_sync(rows.new_group, "web"), db.write_sync(rows.new_group, "admins")
    db.write_sync(rows.new_rule, web, {"remote_group_id": admins})
    nid, sid = db.write_sync(rows.new_network, 121)
    db.write_sync(rows.new_port, nid, sid, 1, "h1", (web,))
    db.write_sync(rows.new_port, nid, sid, 2, "h2", (admins,))
    compile_and_advance(db)
    states = db.read_sync(build.host_goal_states, ["h1", "h2"])
    assert [g.id for g in states["h1"].security_groups] == [web]
    assert set(states["h1"].group_seqs) == {admins}
    assert [g.id for g in states["h2"].security_groups] == [admins] and not states["h2"].group_seqs


def _members(batch: compiler.Batch, gid: str) -> list[tuple[str, int, list[str]]]:
    msg = batch.messages.get(subjects.group(gid))
    return [] if msg is None else [(m.port_id, m.op, list(m.ips)) for m in msg.members]


def test_membership_and_addresses_travel_once_on_the_groups_subject(db: Database) -> None:
    web, db_group = db.write_sync(rows.new_group, "web"), db.write_sync(rows.new_group, "db")
    compile_and_advance(db)
    nid, sid = db.write_sync(rows.new_network, 122)
    pid = db.write_sync(rows.new_port, nid, sid, 1, "", (web,))
    batch = compile_and_advance(db)
    assert _members(batch, web) == []  # unbound: it sends nothing yet, nothing to publish
    db.write_sync(rows.update_port, pid, {"binding_host_id": "h1"})
    batch = compile_and_advance(db)
    assert _members(batch, web) == [(pid, pb.UPSERT, ["10.0.0.11"])]  # bound: it joins
    db.write_sync(rows.update_port, pid, {"dns_name": "x"})
    assert subjects.group(web) not in compile_and_advance(db).messages  # addresses unchanged
    pair = [{"ip_address": "192.168.9.0/24"}]
    db.write_sync(rows.update_port, pid, {"allowed_address_pairs": pair})
    batch = compile_and_advance(db)
    assert _members(batch, web) == [(pid, pb.UPSERT, ["10.0.0.11", "192.168.9.0/24"])]
    db.write_sync(rows.update_port, pid, {"security_groups": [db_group]})
    batch = compile_and_advance(db)
    assert _members(batch, web) == [(pid, pb.DELETE, [])]
    assert _members(batch, db_group) == [(pid, pb.UPSERT, ["10.0.0.11", "192.168.9.0/24"])]
    assert db.read_sync(build.address_set, web).members == []
    [full] = db.read_sync(build.address_set, db_group).members
    assert (full.port_id, list(full.ips)) == (pid, ["10.0.0.11", "192.168.9.0/24"])
    db.write_sync(rows.delete_port, pid)
    batch = compile_and_advance(db)
    assert _members(batch, db_group) == [(pid, pb.DELETE, [])] and not _members(batch, web)


def report(db: Database, host: str, pid: str, revision: int, state: int = pb.SUCCESS) -> int:
    st = pb.ResourceStatus(resource_type="port", id=pid, revision=revision, state=state)
    accepted: int = db.write_sync(apply_reports, [(host, st, 0.0)])
    return accepted


def status(db: Database, pid: str) -> tuple[str, int]:
    port = rows.port_row(db, pid)
    return port["status"], port["revision_number"]


def test_status_writes_stay_out_of_the_change_log(db: Database) -> None:
    nid, sid = db.write_sync(rows.new_network, 104)
    pid = db.write_sync(rows.new_port, nid, sid, 1, "h1")
    compile_and_advance(db)
    assert report(db, "h1", pid, 1) == 1
    assert status(db, pid) == ("ACTIVE", 2)  # Neutron bumps the revision on status changes
    cursor = db.read_sync(compiler._read_cursor)
    assert db.read_sync(compiler.compile_batch, cursor, 1000) is None  # nothing to echo
    # The host still holds revision 1 (nobody told it of 2), and that is its binding's start.
    assert report(db, "h1", pid, 1, pb.REMOVED) == 1
    assert status(db, pid) == ("DOWN", 3)
    assert report(db, "h1", pid, 1) == 1
    assert status(db, pid) == ("ACTIVE", 4)
    assert db.read_sync(compiler.compile_batch, cursor, 1000) is None


def test_the_new_host_is_heard_across_a_status_write_before_the_compiler_stamps(
    db: Database,
) -> None:
    nid, sid = db.write_sync(rows.new_network, 106)
    pid = db.write_sync(rows.new_port, nid, sid, 1, "h1")
    compile_and_advance(db)
    assert report(db, "h1", pid, 1) == 1
    moved = db.write_sync(rows.update_port, pid, {"binding_host_id": "h2"})
    batch = db.read_sync(compiler.compile_batch, db.read_sync(compiler._read_cursor), 1000)
    assert batch is not None
    # Published; before the compiler stamps the binding, a status write bumps the revision.
    db.write_sync(lambda uow: set_status(uow, [(lock_ports(uow, [pid])[pid], "DOWN")]))
    assert status(db, pid) == ("DOWN", moved + 1)
    assert report(db, "h2", pid, moved) == 1  # what h2 was sent still counts
    db.write_sync(compiler.advance, batch, None, batch.compiled_at)
    assert status(db, pid)[0] == "ACTIVE"
    assert db.read_sync(timeline, pid)["host_id"] == "h2"


def test_the_compiler_leaves_a_port_that_moved_on_since_it_compiled(db: Database) -> None:
    nid, sid = db.write_sync(rows.new_network, 107)
    pid = db.write_sync(rows.new_port, nid, sid, 1, "h1")
    compile_and_advance(db)
    db.write_sync(rows.update_port, pid, {"binding_host_id": "h2"})
    batch = db.read_sync(compiler.compile_batch, db.read_sync(compiler._read_cursor), 1000)
    assert batch is not None
    now = db.write_sync(rows.update_port, pid, {"binding_host_id": "h3"})
    assert report(db, "h3", pid, now) == 1  # h3 resynced and reported before we advanced
    db.write_sync(compiler.advance, batch, None, batch.compiled_at)
    assert status(db, pid)[0] == "ACTIVE"  # not taken DOWN for the h2 binding that is gone
    assert db.read_sync(timeline, pid)["host_id"] == "h3"


def test_unbinding_takes_the_port_down_and_silences_its_old_host(db: Database) -> None:
    nid, sid = db.write_sync(rows.new_network, 108)
    pid = db.write_sync(rows.new_port, nid, sid, 1, "h1")
    compile_and_advance(db)
    assert report(db, "h1", pid, 1) == 1
    unbound = db.write_sync(rows.update_port, pid, {"binding_host_id": ""})
    batch = compile_and_advance(db)
    assert [(p.id, p.op) for p in batch.messages[subjects.host("h1")].ports] == [(pid, pb.DELETE)]
    assert status(db, pid) == ("DOWN", unbound + 1)
    assert report(db, "h1", pid, unbound) == 0
    assert db.read_sync(timeline, pid)["host_id"] is None


def test_a_host_heard_from_again_gets_its_ports_status_back(db: Database) -> None:
    db.write_sync(register_hosts, [pb.AgentInfo(host_id="h1", tunnel_ip="198.18.0.1")])
    nid, sid = db.write_sync(rows.new_network, 109)
    up = db.write_sync(rows.new_port, nid, sid, 1, "h1")
    failed = db.write_sync(rows.new_port, nid, sid, 2, "h1")
    unplugged = db.write_sync(rows.new_port, nid, sid, 3, "h1")
    compile_and_advance(db)
    assert report(db, "h1", up, 1) == report(db, "h1", failed, 1, pb.FAILURE) == 1
    assert report(db, "h1", unplugged, 1, pb.REMOVED) == 1
    db.write_sync(lambda uow: uow.execute(hosts.update().values(heartbeat_at=uow.now - 100)))
    assert db.write_sync(sweep_dead_hosts, 75.0) == 2
    assert [status(db, p)[0] for p in (up, failed, unplugged)] == ["DOWN"] * 3
    assert db.write_sync(write_heartbeats, {"h1": (time.time(), 0)}, 75.0) == 2
    assert [status(db, p)[0] for p in (up, failed, unplugged)] == ["ACTIVE", "ERROR", "DOWN"]
    assert db.write_sync(write_heartbeats, {"h1": (time.time(), 0)}, 75.0) == 0  # alive


def test_reports_from_other_hosts_or_old_bindings_are_ignored(db: Database) -> None:
    nid, sid = db.write_sync(rows.new_network, 105)
    pid = db.write_sync(rows.new_port, nid, sid, 1, "h1")
    compile_and_advance(db)
    db.write_sync(rows.update_port, pid, {"binding_host_id": "h2"})
    compile_and_advance(db)
    stale = pb.ResourceStatus(resource_type="port", id=pid, revision=1, state=pb.SUCCESS)
    assert db.write_sync(apply_reports, [("h1", stale, 0.0)]) == 0
    assert db.write_sync(apply_reports, [("h2", stale, 0.0)]) == 0  # older than the binding
    assert rows.port_row(db, pid)["status"] == "DOWN"
    good = pb.ResourceStatus(
        resource_type="port", id=pid, revision=2, state=pb.FAILURE, reason="no vif"
    )
    assert db.write_sync(apply_reports, [("h2", good, 0.0)]) == 1
    assert rows.port_row(db, pid)["status"] == "ERROR"


def _touch_everything(uow: UnitOfWork, nid: str, sid: str, ports: list[str]) -> None:
    """A network, a subnet and a host change, logged as the API and the RPCs log them."""
    uow.log("network", nid, "update", 2, network_id=nid)
    uow.log("subnet", sid, "update", 2, network_id=nid)
    uow.log("host", "agent-1", "update", 0, host_id="h1")
    for pid in ports:
        rows.update_port(uow, pid, {"dns_name": "x"})


def test_a_batch_costs_the_same_queries_whatever_its_size(db: Database) -> None:
    statements: list[str] = []

    def trace(statement: str) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append(statement)

    traced: list[Any] = []

    def count(dbapi_conn: Any, *args: Any) -> None:
        # at the driver: loaders run their statements on it, past SQLAlchemy's events
        dbapi_conn.set_trace_callback(trace)
        traced.append(dbapi_conn)

    def queries_for(n: int, vni: int) -> int:
        nid, sid = db.write_sync(rows.new_network, vni)
        group = db.write_sync(rows.new_group)
        ports = [db.write_sync(rows.new_port, nid, sid, i, f"h{i % 7}", (group,)) for i in range(n)]
        compile_and_advance(db)
        db.write_sync(_touch_everything, nid, sid, ports)
        db.write_sync(rows.new_rule, group)
        cursor = db.read_sync(compiler._read_cursor)
        statements.clear()
        sa.event.listen(db.engine, "checkout", count)
        try:
            batch = db.read_sync(compiler.compile_batch, cursor, 5000)
        finally:
            sa.event.remove(db.engine, "checkout", count)
            for dbapi_conn in traced:
                dbapi_conn.set_trace_callback(None)
        assert batch is not None and batch.rows == n + 4
        on_h1 = batch.messages[subjects.host("h1")]
        assert nid in {x.id for x in on_h1.networks} and sid in {x.id for x in on_h1.subnets}
        assert [g.id for g in on_h1.security_groups] == [group]
        neigh = batch.messages[subjects.network(nid)].neighbors
        assert {x.port_id for x in neigh} == set(ports)
        db.write_sync(compiler.advance, batch, None, batch.compiled_at)
        return len(statements)

    # log, ports (+ their floating IPs), provisioning, inactive bindings, published
    # address-set members, networks, routers per network, subnets, tunnel IPs, groups, their
    # rules, hosts per network (a skip scan, and the inactive bindings), ports per host (+ their
    # floating IPs), rules' groups, hosts per group (the same two), subject seqs: one query
    # each, for 3 ports as for 300
    assert queries_for(3, 110) == queries_for(300, 111) == 19


def test_a_loader_refuses_ids_nobody_wanted(db: Database) -> None:
    def read(conn: sa.Connection) -> None:
        loader = Context(conn).rows(rows_by_id)
        loader.want(["a"])
        assert loader.get("a") is None  # wanted, fetched, no such row
        with pytest.raises(LookupError):
            loader.get("b")

    db.read_sync(read)


def rows_by_id(conn: sa.Connection, ids: Any) -> dict[str, sa.RowMapping]:
    return {}


PORT, SUBNET = acl_ports.c.port_id, acl_subnets.c.subnet_id


def _associate(uow: UnitOfWork, aid: str, nid: str, key: sa.Column[str], rid: str) -> None:
    """Associate a subnet or a port (`key`: the join table's column) with ACL `aid` (an ACL
    update, as the API logs it)."""
    uow.execute(key.table.insert().values({key.name: rid, "network_acl_id": aid}))
    uow.log("network_acl", aid, "update", 1, network_id=nid, project_id=rows.PROJECT)


def _new_acl_rule(uow: UnitOfWork, aid: str, number: int, values: dict[str, Any]) -> str:
    """A rule of ACL `aid`, logged with no scope, as the API logs it."""
    rid = str(uuid.uuid4())
    row = {"direction": "ingress", "ethertype": "IPv4", "action": "allow", **values}
    uow.execute(
        build.acl_rules_t.insert().values(
            id=rid,
            project_id=rows.PROJECT,
            network_acl_id=aid,
            number=number,
            revision_number=0,
            created_at=uow.now,
            updated_at=uow.now,
            **row,
        )
    )
    uow.log("network_acl_rule", rid, "create", 0, project_id=rows.PROJECT, parent_id=aid)
    return rid


def _acl_network(db: Database, vni: int) -> tuple[str, str, str, str]:
    """A network with its default ACL and a second subnet: (network, default ACL, subnet a,
    subnet b)."""
    nid, sub_a = db.write_sync(rows.new_network, vni)

    def more(uow: UnitOfWork) -> tuple[str, str]:
        sub_b = str(uuid.uuid4())
        uow.execute(
            build.subnets_t.insert().values(
                id=sub_b,
                name="b",
                project_id=rows.PROJECT,
                network_id=nid,
                ip_version=4,
                cidr="10.1.0.0/16",
                enable_dhcp=True,
                revision_number=1,
            )
        )
        return rows.new_acl(uow, nid, default=True), sub_b

    default, sub_b = db.write_sync(more)
    return nid, default, sub_a, sub_b


def test_a_port_has_its_own_acl_else_its_subnets_else_the_default(db: Database) -> None:
    nid, default, sub_a, sub_b = _acl_network(db, 130)
    own, on_subnet = db.write_sync(rows.new_acl, nid), db.write_sync(rows.new_acl, nid)
    icmp = {"protocol": "icmp", "icmp_type": 8, "ip_prefix": "10.0.0.0/24"}
    db.write_sync(_new_acl_rule, own, 10, icmp)
    p_own = db.write_sync(rows.new_port, nid, sub_a, 1, "h1")
    p_sub = db.write_sync(rows.new_port, nid, sub_b, 2, "h1")
    p_default = db.write_sync(rows.new_port, nid, sub_a, 3, "h2")
    db.write_sync(_associate, own, nid, PORT, p_own)
    db.write_sync(_associate, on_subnet, nid, SUBNET, sub_b)
    db.write_sync(_associate, own, nid, SUBNET, sub_a)  # the port's own ACL wins over this one
    states = db.read_sync(build.host_goal_states, ["h1", "h2"])
    got = {p.id: p.network_acl_id for s in states.values() for p in s.ports}
    assert got == {p_own: own, p_sub: on_subnet, p_default: own}  # p_default is on subnet a
    assert sorted(a.id for a in states["h1"].network_acls) == sorted([own, on_subnet])
    [held] = [a for a in states["h1"].network_acls if a.id == own]
    [rule] = held.rules
    assert (rule.number, rule.protocol, rule.icmp_type, rule.HasField("icmp_code")) == (
        10,
        "1",
        8,
        False,
    )
    assert (rule.ip_prefix, rule.action, rule.port_range_min) == ("10.0.0.0/24", "allow", 0)
    db.write_sync(lambda uow: uow.execute(acl_subnets.delete()))
    states = db.read_sync(build.host_goal_states, ["h2"])
    assert [(p.id, p.network_acl_id) for p in states["h2"].ports] == [(p_default, default)]
    assert [a.id for a in states["h2"].network_acls] == [default]


def test_an_acl_goes_with_its_port_and_its_rules_only_where_it_filters(db: Database) -> None:
    nid, default, sub_a, sub_b = _acl_network(db, 131)
    compile_and_advance(db)
    web = db.write_sync(rows.new_acl, nid)
    db.write_sync(_associate, web, nid, SUBNET, sub_b)
    p1 = db.write_sync(rows.new_port, nid, sub_b, 1, "h1")
    db.write_sync(rows.new_port, nid, sub_a, 2, "h2")
    first = compile_and_advance(db)
    on_h1, on_h2 = (first.messages[subjects.host(h)] for h in ("h1", "h2"))
    assert [(p.id, p.network_acl_id) for p in on_h1.ports] == [(p1, web)]
    assert [a.id for a in on_h1.network_acls] == [web]
    assert [a.id for a in on_h2.network_acls] == [default]
    ssh = {"protocol": "tcp", "port_range_min": 22, "port_range_max": 22}
    rid = db.write_sync(_new_acl_rule, web, 5, ssh)
    batch = compile_and_advance(db)
    assert set(batch.messages) == {subjects.host("h1")}
    msg = batch.messages[subjects.host("h1")]
    assert not msg.ports and [a.id for a in msg.network_acls] == [web]
    [rule] = msg.network_acls[0].rules
    assert (rule.protocol, rule.port_range_min, rule.port_range_max) == ("6", 22, 22)
    # a deleted rule's log row still names its ACL: only the hosts using that ACL hear of it
    db.write_sync(
        lambda uow: (
            uow.execute(build.acl_rules_t.delete().where(build.acl_rules_t.c.id == rid)),
            uow.log("network_acl_rule", rid, "delete", 0, project_id=rows.PROJECT, parent_id=web),
        )
    )
    batch = compile_and_advance(db)
    assert set(batch.messages) == {subjects.host("h1")}
    assert [a.id for a in batch.messages[subjects.host("h1")].network_acls] == [web]
    assert not batch.messages[subjects.host("h1")].network_acls[0].rules


def test_an_association_change_resends_the_networks_bound_ports(db: Database) -> None:
    nid, default, sub_a, _ = _acl_network(db, 132)
    p1 = db.write_sync(rows.new_port, nid, sub_a, 1, "h1")
    p2 = db.write_sync(rows.new_port, nid, sub_a, 2, "h2")
    db.write_sync(rows.new_port, nid, sub_a, 3, "")  # unbound: no host to tell
    compile_and_advance(db)
    vm = db.write_sync(rows.new_acl, nid)
    db.write_sync(_associate, vm, nid, PORT, p1)
    batch = compile_and_advance(db)
    assert set(batch.messages) == {subjects.host("h1"), subjects.host("h2")}
    on_h1, on_h2 = (batch.messages[subjects.host(h)] for h in ("h1", "h2"))
    assert [(p.id, p.network_acl_id) for p in on_h1.ports] == [(p1, vm)]
    assert [a.id for a in on_h1.network_acls] == [vm]
    assert [(p.id, p.network_acl_id) for p in on_h2.ports] == [(p2, default)]
    assert [a.id for a in on_h2.network_acls] == [default]
