"""Writing networks, subnets and ports the way the API's unit of work does, for southbound tests.

Why not the API: the southbound is specified against the change log, so its tests write rows
and change-log entries directly (one entry per changed resource; a port logs its network and
binding host, and `old_host_id` when the binding moves; groups and rules log no scope), exactly
as `resources/crud.py` does; a port's groups are its `security_groups` list and its rows in the
membership table, written together as `resources/rules/security_group.py` does.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

import sqlalchemy as sa

from alcor.ipam.tables import ipam_used
from alcor.southbound import build
from alcor.store.db import Database, UnitOfWork
from alcor.store.schema import metadata

networks = build.networks_t  # the southbound's one view of the resource tables
subnets = build.subnets_t
ports = build.ports_t
groups = build.groups_t
rules = build.rules_t
port_groups = build.port_groups_t
acls = build.acls_t
PROJECT = "p1"


def create_schema(db: Database) -> None:
    metadata.create_all(db.engine)


def new_network(uow: UnitOfWork, vni: int, cidr: str = "10.0.0.0/16") -> tuple[str, str]:
    """A network with one IPv4 subnet; returns (network id, subnet id)."""
    nid, sid = str(uuid.uuid4()), str(uuid.uuid4())
    uow.execute(
        networks.insert().values(
            id=nid,
            name=f"net{vni}",
            project_id=PROJECT,
            admin_state_up=True,
            status="ACTIVE",
            mtu=1450,
            router_external=False,
            port_security_enabled=True,
            shared=False,
            provider_network_type="vxlan",
            provider_segmentation_id=vni,
            dns_domain="",
            revision_number=1,
            created_at=uow.now,
            updated_at=uow.now,
        )
    )
    uow.log("network", nid, "create", 1, network_id=nid, project_id=PROJECT)
    net = ipaddress.ip_network(cidr)
    uow.execute(
        subnets.insert().values(
            id=sid,
            name="sub",
            project_id=PROJECT,
            network_id=nid,
            ip_version=4,
            cidr=cidr,
            gateway_ip=str(net[1]),
            allocation_pools=[],
            dns_nameservers=["8.8.8.8"],
            host_routes=[{"destination": "192.168.0.0/24", "nexthop": str(net[1])}],
            enable_dhcp=True,
            revision_number=1,
            created_at=uow.now,
            updated_at=uow.now,
        )
    )
    uow.log("subnet", sid, "create", 1, network_id=nid, project_id=PROJECT)
    return nid, sid


def new_port(
    uow: UnitOfWork,
    nid: str,
    sid: str,
    index: int,
    host: str = "",
    security_groups: tuple[str, ...] = (),
) -> str:
    """A port with a MAC and IP derived from `index`, bound to `host` ("" = unbound), in
    `security_groups`."""
    pid = str(uuid.uuid4())
    subnet_cidr = uow.execute(sa.select(subnets.c.cidr).where(subnets.c.id == sid)).scalar_one()
    ip = ipaddress.ip_network(subnet_cidr)[index + 10]
    uow.execute(
        ports.insert().values(
            id=pid,
            name="",
            project_id=PROJECT,
            network_id=nid,
            mac_address="fa:16:3e:" + ":".join(f"{index >> s & 255:02x}" for s in (16, 8, 0)),
            fixed_ips=[{"subnet_id": sid, "ip_address": str(ip)}],
            admin_state_up=True,
            status="DOWN",
            device_id=f"vm-{index}",
            device_owner="compute:nova",
            binding_host_id=host,
            binding_vif_type="ovs" if host else "unbound",
            allowed_address_pairs=[],
            port_security_enabled=True,
            security_groups=list(security_groups),
            extra_dhcp_opts=[],
            dns_name="",
            revision_number=1,
            created_at=uow.now,
            updated_at=uow.now,
        )
    )
    # the address as the allocator records it (its pool is the subnet, its owner the port)
    uow.execute(
        ipam_used.insert().values(
            pool_id=sid, bucket=0, vkey=f"{int(ip):032x}", owner=pid, display=str(ip)
        )
    )
    if security_groups:
        uow.execute(
            port_groups.insert(),
            [{"port_id": pid, "security_group_id": g, "host": host or ""} for g in security_groups],
        )
    uow.log("port", pid, "create", 1, network_id=nid, host_id=host or None, project_id=PROJECT)
    return pid


def update_port(uow: UnitOfWork, pid: str, values: dict[str, Any]) -> int:
    """Update a port like the API: bump revision, log with old_host_id on rebinding, rewrite
    its membership rows when `security_groups` is among the values, else move them with its
    host."""
    row = uow.execute(sa.select(ports).where(ports.c.id == pid)).mappings().one()
    host = values.get("binding_host_id", row["binding_host_id"]) or ""
    if "security_groups" in values:
        uow.execute(port_groups.delete().where(port_groups.c.port_id == pid))
        members = [
            {"port_id": pid, "security_group_id": g, "host": host}
            for g in values["security_groups"]
        ]
        if members:
            uow.execute(port_groups.insert(), members)
    else:
        uow.execute(port_groups.update().where(port_groups.c.port_id == pid).values(host=host))
    revision = row["revision_number"] + 1
    uow.execute(
        ports.update()
        .where(ports.c.id == pid)
        .values(revision_number=revision, updated_at=uow.now, **values)
    )
    old = row["binding_host_id"] if host != (row["binding_host_id"] or "") else None
    uow.log(
        "port",
        pid,
        "update",
        revision,
        network_id=row["network_id"],
        host_id=host or None,
        old_host_id=old or None,
        project_id=PROJECT,
    )
    return revision


def delete_port(uow: UnitOfWork, pid: str) -> None:
    row = uow.execute(sa.select(ports).where(ports.c.id == pid)).mappings().one()
    uow.execute(port_groups.delete().where(port_groups.c.port_id == pid))
    uow.execute(ipam_used.delete().where(ipam_used.c.owner == pid))
    uow.execute(ports.delete().where(ports.c.id == pid))
    uow.log(
        "port",
        pid,
        "delete",
        row["revision_number"],
        network_id=row["network_id"],
        host_id=row["binding_host_id"] or None,
        project_id=PROJECT,
    )


def _created(uow: UnitOfWork, table: sa.Table, kind: str, **values: Any) -> str:
    """A new row of a project's resource at revision 0, logged as created (`values` also
    give the log's scope, such as `network_id`, when the table has that column)."""
    rid = str(uuid.uuid4())
    uow.execute(
        table.insert().values(
            id=rid,
            project_id=PROJECT,
            revision_number=0,
            created_at=uow.now,
            updated_at=uow.now,
            **values,
        )
    )
    scope = {k: values[k] for k in ("network_id",) if k in values}
    uow.log(kind, rid, "create", 0, project_id=PROJECT, **scope)
    return rid


def new_group(uow: UnitOfWork, name: str = "web", stateful: bool = True) -> str:
    return _created(uow, groups, "security_group", name=name, stateful=stateful)


def new_rule(uow: UnitOfWork, gid: str, values: dict[str, Any] | None = None) -> str:
    """An ingress IPv4 rule of group `gid` (any protocol unless `values` say otherwise)."""
    rid = str(uuid.uuid4())
    row = {"direction": "ingress", "ethertype": "IPv4", **(values or {})}
    uow.execute(
        rules.insert().values(
            id=rid,
            project_id=PROJECT,
            security_group_id=gid,
            revision_number=0,
            created_at=uow.now,
            updated_at=uow.now,
            fingerprint=rid,
            **row,
        )
    )
    uow.log("security_group_rule", rid, "create", 0, project_id=PROJECT, parent_id=gid)
    return rid


def delete_rule(uow: UnitOfWork, rid: str) -> None:
    gid = uow.execute(sa.select(rules.c.security_group_id).where(rules.c.id == rid)).scalar()
    uow.execute(rules.delete().where(rules.c.id == rid))
    uow.log("security_group_rule", rid, "delete", 0, project_id=PROJECT, parent_id=gid)


def port_row(db: Database, pid: str) -> Any:
    return db.read_sync(
        lambda conn: conn.execute(sa.select(ports).where(ports.c.id == pid)).mappings().first()
    )


def new_router(uow: UnitOfWork, routes: list[dict[str, str]] | None = None) -> str:
    rid = str(uuid.uuid4())
    uow.execute(
        build.routers_t.insert().values(
            id=rid,
            name="r",
            project_id=PROJECT,
            admin_state_up=True,
            status="ACTIVE",
            routes=routes or [],
            revision_number=0,
            created_at=uow.now,
            updated_at=uow.now,
        )
    )
    uow.log("router", rid, "create", 0, project_id=PROJECT)
    return rid


def attach(uow: UnitOfWork, rid: str, nid: str, sid: str) -> str:
    """An interface of router `rid` on subnet `sid` holding its gateway IP, logged as the API
    logs it: the port, the router and the network (whose state names its routers)."""
    pid = str(uuid.uuid4())
    gateway = uow.execute(sa.select(subnets.c.gateway_ip).where(subnets.c.id == sid)).scalar_one()
    uow.execute(
        ports.insert().values(
            id=pid,
            name="",
            project_id=PROJECT,
            network_id=nid,
            mac_address="fa:16:3f:" + ":".join((pid[0:2], pid[2:4], pid[4:6])),
            fixed_ips=[{"subnet_id": sid, "ip_address": gateway}],
            admin_state_up=True,
            status="DOWN",
            device_id=rid,
            device_owner="network:router_interface",
            binding_host_id="",
            allowed_address_pairs=[],
            port_security_enabled=False,
            security_groups=[],
            extra_dhcp_opts=[],
            dns_name="",
            revision_number=1,
            created_at=uow.now,
            updated_at=uow.now,
        )
    )
    uow.log("port", pid, "create", 1, network_id=nid, project_id=PROJECT)
    uow.log("router", rid, "update", 0, project_id=PROJECT)
    uow.log("network", nid, "update", 0, network_id=nid, project_id=PROJECT)
    return pid


def set_routes(uow: UnitOfWork, rid: str, routes: list[dict[str, str]]) -> None:
    uow.execute(build.routers_t.update().where(build.routers_t.c.id == rid).values(routes=routes))
    uow.log("router", rid, "update", 0, project_id=PROJECT)


def new_acl(uow: UnitOfWork, nid: str, default: bool = False) -> str:
    """An ACL of network `nid`, logged as the API logs it (its network as scope)."""
    name = "default" if default else "acl"
    return _created(uow, acls, "network_acl", name=name, network_id=nid, is_default=default)
