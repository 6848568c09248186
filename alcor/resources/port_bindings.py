"""Multiple port bindings (`binding-extended`): how Nova live-migrates a VM.

Nova creates an INACTIVE binding on the destination host (`POST /v2.0/ports/{id}/bindings`),
plugs the VIF there while the VM still runs on the source, migrates, activates the new binding
(`PUT .../bindings/{host}/activate`) and deletes the old one (`DELETE .../bindings/{host}`).
The active binding is the port's own `binding:*` attributes (what every other client reads);
`port_bindings` holds only the inactive ones. Each of these operations writes a port change-log
row naming the hosts concerned, so the compiler sends the port to every host holding one of
its bindings: the destination programs the VIF before activation (its `PortState.inactive`
keeps it from claiming the port: the network's neighbour entry names the active host only),
and activation is one port update, which moves the neighbour entry in one delta.

Semantics and errors are ML2's (`neutron/plugins/ml2/plugin.py`): only compute (and shared
file system) ports have bindings, a second binding on a host is `PortBindingAlreadyExists`,
activating the active one `PortBindingAlreadyActive`, a host the port has no binding on
`PortBindingNotFound`, a host that cannot bind (no live agent) `PortBindingError`; the binding
activated becomes the port's, the one it replaces becomes INACTIVE, and the port goes DOWN
until its new host reports it programmed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from alcor import errors
from alcor.resources import crud
from alcor.resources.context import Context
from alcor.resources.declarations import port as port_decl
from alcor.resources.model import Item
from alcor.store.db import UnitOfWork
from alcor.store.schema import hosts

ports = port_decl.resource
bindings_t = port_decl.port_bindings
FIELDS = ("host", "vif_type", "vif_details", "vnic_type", "profile", "status")
FILTERS = ("host", "vif_type", "vnic_type", "status")
_MULTI_BINDING_OWNERS = ("compute:", "manila:")


def vif(
    uow: UnitOfWork, host: str, vnic_type: str, agent_down_time: float
) -> tuple[str, dict[str, Any]]:
    """(vif_type, vif_details) of binding a port of `vnic_type` to `host`: `ovs` on a host
    whose agent is up and enabled (the details Nova's os-vif plugs with), `binding_failed`
    on any other host or for a vNIC type our agent does not plug; `unbound` without a host."""
    if not host:
        return "unbound", {}
    row = uow.execute(
        sa.select(hosts.c.heartbeat_at, hosts.c.admin_state_up, hosts.c.configurations).where(
            hosts.c.host_id == host
        )
    ).first()
    alive = (
        row is not None
        and row.admin_state_up
        and row.heartbeat_at is not None
        and row.heartbeat_at >= uow.now - agent_down_time
    )
    if row is None or not alive or vnic_type != "normal":
        return "binding_failed", {}
    conf = row.configurations or {}
    return "ovs", {
        "port_filter": True,
        "ovs_hybrid_plug": False,
        "bridge_name": conf.get("integration_bridge", "br-int"),
        "datapath_type": conf.get("datapath_type", "system"),
        "connectivity": "l2",
        "bound_drivers": {"0": "alcor"},
    }


# -- reads -----------------------------------------------------------------------------------
def _active(port: Item) -> dict[str, Any]:
    return {
        "host": port["binding:host_id"] or "",
        "vif_type": port["binding:vif_type"],
        "vif_details": port["binding:vif_details"] or {},
        "vnic_type": port["binding:vnic_type"],
        "profile": port["binding:profile"] or {},
        "status": "ACTIVE",
    }


def _inactive(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "host": row["host"],
        "vif_type": row["vif_type"],
        "vif_details": row["vif_details"] or {},
        "vnic_type": row["vnic_type"],
        "profile": row["profile"] or {},
        "status": "INACTIVE",
    }


def _rows(conn: sa.Connection | UnitOfWork, port_id: str) -> dict[str, dict[str, Any]]:
    stmt = sa.select(bindings_t).where(bindings_t.c.port_id == port_id)
    return {r["host"]: dict(r) for r in conn.execute(stmt).mappings()}


def _all(conn: sa.Connection | UnitOfWork, port: Item) -> list[dict[str, Any]]:
    """The port's bindings, the active one first (as ML2, which keeps one for an unbound
    port too, with an empty host)."""
    active = port["binding:host_id"] or ""
    others = [_inactive(r) for h, r in sorted(_rows(conn, port["id"]).items()) if h != active]
    return [_active(port), *others]


def _port(conn: sa.Connection | UnitOfWork, ctx: Context, port_id: str, lock: bool) -> Item:
    """The port (its own 404 when the caller cannot see it), refused unless an instance's."""
    port = crud.fetch(conn, ports, ctx, port_id, for_update=lock)
    if not str(port["device_owner"] or "").startswith(_MULTI_BINDING_OWNERS):
        raise errors.BadPortRequest(
            msg=f"Invalid port {port_id}. Operation only valid on compute and shared "
            "filesystem ports"
        )
    return port


def _may_read(ctx: Context, port: Item) -> None:
    """`get_port_binding`; a caller who may not read bindings is told there are none to
    see (Neutron's controller answers 404 rather than give their existence away)."""
    if not ctx.policy.check(ctx, "get_port_binding", {"project_id": port["project_id"]}):
        raise errors.NotFound()


def _pick(binding: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    wanted = [f for f in fields if f in FIELDS]
    return {k: binding[k] for k in wanted} if wanted else binding


def listing(
    conn: sa.Connection,
    ctx: Context,
    port_id: str,
    filters: Mapping[str, list[str]],
    fields: Iterable[str],
) -> list[dict[str, Any]]:
    """GET /v2.0/ports/{id}/bindings (filters: host, vif_type, vnic_type, status)."""
    port = _port(conn, ctx, port_id, lock=False)
    _may_read(ctx, port)
    found = [
        b
        for b in _all(conn, port)
        if all(str(b[k]) in v for k, v in filters.items() if k in FILTERS)
    ]
    return [_pick(b, fields) for b in found]


def show(
    conn: sa.Connection, ctx: Context, port_id: str, host: str, fields: Iterable[str]
) -> dict[str, Any]:
    """GET /v2.0/ports/{id}/bindings/{host}."""
    port = _port(conn, ctx, port_id, lock=False)
    _may_read(ctx, port)
    for b in _all(conn, port):
        if b["host"] == host:
            return _pick(b, fields)
    raise errors.PortBindingNotFound(port_id=port_id, host=host)


# -- writes ----------------------------------------------------------------------------------
def check_body(body: Any) -> dict[str, Any]:
    """`{"binding": {"host", "vnic_type", "profile"}}` validated as the port's own binding
    attributes are; `host` is required."""
    if not isinstance(body, dict) or set(body) != {"binding"}:
        raise errors.BadRequest("Unable to find 'binding' in request body")
    attrs = body["binding"]
    if not isinstance(attrs, dict):
        raise errors.BadRequest("Body of binding must be an object")
    unknown = sorted(set(attrs) - {"host", "vnic_type", "profile", "project_id", "tenant_id"})
    if unknown:
        raise errors.BadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    if "host" not in attrs:
        raise errors.BadRequest("Failed to parse request. Required attribute 'host' not specified")
    out = {"host": ports.attrs["binding:host_id"].kind.check("host", attrs["host"])}
    out["vnic_type"] = ports.attrs["binding:vnic_type"].kind.check(
        "vnic_type", attrs.get("vnic_type", "normal")
    )
    profile = attrs.get("profile")
    out["profile"] = (
        {} if profile is None else ports.attrs["binding:profile"].kind.check("profile", profile)
    )
    return out


def _log(uow: UnitOfWork, port: Item, host: str, op: str = "update") -> None:
    """A port change-log row naming `host` (besides the active one): the compiler sends the
    port there, or deletes it there when `host` holds no binding of it any more."""
    uow.log(
        "port",
        port["id"],
        op,
        port["revision_number"],
        network_id=port["network_id"],
        host_id=port["binding:host_id"] or None,
        old_host_id=host,
        project_id=port["project_id"],
    )


def create(
    uow: UnitOfWork, ctx: Context, port_id: str, attrs: dict[str, Any], agent_down_time: float
) -> dict[str, Any]:
    """POST /v2.0/ports/{id}/bindings: an INACTIVE binding on another host (or the active one
    of a port that has none: ML2 keeps an unbound port's binding as its active one, so that
    case is INACTIVE too)."""
    port = _port(uow, ctx, port_id, lock=True)
    ctx.policy.enforce(ctx, "create_port_binding", {"project_id": port["project_id"]})
    host = attrs["host"]
    if host == (port["binding:host_id"] or "") or host in _rows(uow, port_id):
        raise errors.PortBindingAlreadyExists(port_id=port_id, host=host)
    vif_type, details = vif(uow, host, attrs["vnic_type"], agent_down_time)
    if vif_type == "binding_failed":
        raise errors.PortBindingError(port_id=port_id, host=host)
    row = {
        "port_id": port_id,
        "host": host,
        "vnic_type": attrs["vnic_type"],
        "profile": attrs["profile"],
        "vif_type": vif_type,
        "vif_details": details,
        "state": None,
    }
    uow.execute(bindings_t.insert().values(**row))
    _log(uow, port, host)
    return _inactive(row)


def activate(uow: UnitOfWork, ctx: Context, port_id: str, host: str) -> dict[str, Any]:
    """PUT /v2.0/ports/{id}/bindings/{host}/activate: the inactive binding on `host` becomes
    the port's (one port update: every host's neighbour entry moves at once), the active one
    becomes INACTIVE, and the port is DOWN until `host` reports it programmed (it did already
    as the inactive binding, so that takes one round trip)."""
    port = _port(uow, ctx, port_id, lock=True)
    ctx.policy.enforce(ctx, "activate", {"project_id": port["project_id"]})
    if host == (port["binding:host_id"] or ""):
        raise errors.PortBindingAlreadyActive(port_id=port_id, host=host)
    row = _rows(uow, port_id).get(host)
    if row is None:
        raise errors.PortBindingNotFound(port_id=port_id, host=host)
    if row["vif_type"] == "binding_failed":
        raise errors.PortBindingError(port_id=port_id, host=host)
    uow.execute(
        bindings_t.delete().where(bindings_t.c.port_id == port_id, bindings_t.c.host == host)
    )
    if port["binding:host_id"]:
        uow.execute(
            bindings_t.insert().values(
                port_id=port_id,
                host=port["binding:host_id"],
                vnic_type=port["binding:vnic_type"],
                profile=port["binding:profile"] or {},
                vif_type=port["binding:vif_type"],
                vif_details=port["binding:vif_details"] or {},
                state=None,
            )
        )
    changes = {
        "binding:host_id": host,
        "binding:vnic_type": row["vnic_type"],
        "binding:profile": row["profile"] or {},
    }
    return _active(crud.update(uow, ports, ctx, port_id, changes))


def delete(uow: UnitOfWork, ctx: Context, port_id: str, host: str) -> None:
    """DELETE /v2.0/ports/{id}/bindings/{host}: an inactive binding goes from its host; the
    active one leaves the port unbound."""
    port = _port(uow, ctx, port_id, lock=True)
    _may_read(ctx, port)
    ctx.policy.enforce(ctx, "delete_port_binding", {"project_id": port["project_id"]})
    if host and host == port["binding:host_id"]:
        crud.update(uow, ports, ctx, port_id, {"binding:host_id": ""})
        return
    gone = uow.execute(
        bindings_t.delete().where(bindings_t.c.port_id == port_id, bindings_t.c.host == host)
    )
    if not gone.rowcount:
        raise errors.PortBindingNotFound(port_id=port_id, host=host)
    _log(uow, port, host)


def forget(uow: UnitOfWork, port: Item) -> None:
    """A port being deleted: its inactive bindings go, and their hosts are told."""
    for host in _rows(uow, port["id"]):
        _log(uow, port, host, "delete")
    uow.execute(bindings_t.delete().where(bindings_t.c.port_id == port["id"]))
