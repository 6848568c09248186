"""Networks: the declaration of Neutron's network resource and its rules."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from alcor import errors
from alcor.config import ServerSettings
from alcor.ipam import errors as ipam_errors
from alcor.ipam import pools
from alcor.resources import crud, floatingip, kinds, network_acl
from alcor.resources.context import ADMIN, Context
from alcor.resources.model import Attr, Hooks, Resource, availability_zones
from alcor.store.db import UnitOfWork

resource = Resource(
    "network",
    "networks",
    [
        Attr("admin_state_up", kinds.Bool(), post=True, put=True, default=True),
        Attr("status", kinds.Str(16), default="ACTIVE"),
        Attr("shared", kinds.Bool(), post=True, put=True, default=False),
        Attr("mtu", kinds.Int(68, 9000), post=True, put=True, default=1450),
        Attr("router:external", kinds.Bool(), post=True, put=True, default=False),
        Attr("port_security_enabled", kinds.Bool(), post=True, put=True, default=True),
        Attr(
            "provider:network_type",
            kinds.Enum("vxlan", "geneve"),
            post=True,
            admin_only=True,
            default="vxlan",
        ),
        Attr(
            "provider:physical_network",
            kinds.Str(64),
            post=True,
            admin_only=True,
            nullable=True,
            default=None,
        ),
        Attr(
            "provider:segmentation_id",
            kinds.Int(1, 16777215),
            post=True,
            admin_only=True,
            nullable=True,
            default=None,
        ),
        Attr("dns_domain", kinds.Str(255), post=True, put=True, default=""),
        *availability_zones(),
        Attr("subnets", kinds.list_of(kinds.Uuid()), stored=False, filter=False, sort=False),
        Attr("ipv4_address_scope", kinds.Uuid(), stored=False, filter=False, sort=False),
        Attr("ipv6_address_scope", kinds.Uuid(), stored=False, filter=False, sort=False),
        Attr("l2_adjacency", kinds.Bool(), stored=False, filter=False, sort=False),
    ],
    extensions=(
        "provider",
        "external-net",
        "net-mtu",
        "net-mtu-writable",
        "port-security",
        "dns-integration",
        "l2_adjacency",
    ),
    quota="network",
    # Each type has its own id space and allocator pool, as in Neutron's ML2 type drivers.
    table_args=(sa.UniqueConstraint("provider_network_type", "provider_segmentation_id"),),
)


def vni_ranges(spec: str) -> list[tuple[int, int]]:
    """Parse `vni_ranges` ("1:1000,5000:6000") into inclusive ranges."""
    ranges = []
    for part in spec.split(","):
        lo, _, hi = part.strip().partition(":")
        ranges.append((int(lo), int(hi or lo)))
    return ranges


class NetworkHooks(Hooks):
    """VXLAN id allocation, shared/external visibility, cascade to subnets on delete."""

    def __init__(self, settings: ServerSettings) -> None:
        self.vni_ranges = vni_ranges(settings.vni_ranges)

    def visible(self, ctx: Context) -> sa.ColumnElement[bool]:
        t = resource.table
        return sa.or_(
            t.c.project_id == ctx.project_id, t.c.shared.is_(True), t.c.router_external.is_(True)
        )

    def before_create(self, uow: UnitOfWork, ctx: Context, item: dict[str, Any]) -> None:
        pool = f"vni:{item['provider:network_type']}"
        pools.ensure_pool(uow, pool, self.vni_ranges)
        wanted = item.get("provider:segmentation_id")
        try:
            item["provider:segmentation_id"] = pools.allocate(uow, pool, item["id"], wanted)
        except ipam_errors.ValueInUse:
            raise errors.typed(
                errors.Conflict,
                "SegmentationIdInUse",
                f"Unable to create the network. The VXLAN {wanted} is in use.",
            ) from None
        except ipam_errors.OutOfRange:
            raise errors.InvalidInput(
                f"Invalid input for operation: segmentation_id {wanted}"
                " is outside the configured VNI ranges."
            ) from None
        except ipam_errors.PoolExhausted:
            raise errors.typed(
                errors.ServiceUnavailable,
                "NoNetworkAvailable",
                "Unable to create the network. No tenant network is available for allocation.",
            ) from None

    def after_create(self, uow: UnitOfWork, ctx: Context, item: dict[str, Any]) -> None:
        network_acl.create_default(uow, item)

    def before_update(
        self, uow: UnitOfWork, ctx: Context, old: dict[str, Any], changes: dict[str, Any]
    ) -> None:
        if changes.get("shared") is False and old["shared"]:
            ports = port_resource().table
            other = uow.execute(
                sa.select(ports.c.id)
                .where(
                    ports.c.network_id == old["id"],
                    ports.c.project_id != old["project_id"],
                    ports.c.device_owner.not_like("network:%"),
                )
                .limit(1)
            ).first()
            if other is not None:
                raise errors.typed(
                    errors.Conflict,
                    "InvalidSharedSetting",
                    f"Unable to reconfigure sharing settings for network "
                    f"{old['id']}. Multiple tenants are using it.",
                )

    def before_delete(self, uow: UnitOfWork, ctx: Context, item: dict[str, Any]) -> None:
        ports = port_resource().table
        fips = floatingip.resource.table
        if (
            uow.execute(
                sa.select(ports.c.id).where(ports.c.network_id == item["id"]).limit(1)
            ).first()
            is not None
            or uow.execute(
                sa.select(fips.c.id).where(fips.c.floating_network_id == item["id"]).limit(1)
            ).first()
            is not None
        ):
            raise errors.typed(
                errors.Conflict,
                "NetworkInUse",
                f"Unable to complete operation on network {item['id']}. There "
                "are one or more ports still in use on the network.",
            )
        subnets = subnet_resource()
        for (sid,) in uow.execute(
            sa.select(subnets.table.c.id).where(subnets.table.c.network_id == item["id"])
        ).all():
            crud.delete(uow, subnets, ADMIN, sid)
        network_acl.delete_of_network(uow, item["id"])
        pools.release(uow, f"vni:{item['provider:network_type']}", item["provider:segmentation_id"])

    def extend(self, conn: Any, ctx: Context, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        subnets = subnet_resource().table
        by_net: dict[str, list[str]] = {it["id"]: [] for it in items}
        rows = conn.execute(
            sa.select(subnets.c.network_id, subnets.c.id)
            .where(subnets.c.network_id.in_(list(by_net)))
            .order_by(subnets.c.created_at, subnets.c.id)
        )
        for net_id, sid in rows:
            by_net[net_id].append(sid)
        for it in items:
            it["subnets"] = by_net[it["id"]]
            it["availability_zones"] = []
            it["ipv4_address_scope"] = None
            it["ipv6_address_scope"] = None
            it["l2_adjacency"] = True

    def change_scope(self, item: dict[str, Any]) -> tuple[str | None, str | None]:
        return item["id"], None


def subnet_resource() -> Resource:
    from alcor.resources.subnet import resource as subnet

    return subnet


def port_resource() -> Resource:
    from alcor.resources.port import resource as port

    return port
