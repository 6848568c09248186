"""The quota API (`quotas`, `quota_details`) and network IP availability, as Neutron serves
them: not declared resources (they are keyed by project or computed), so they have their
own few routes. Every rule about limits lives in `alcor.resources.quota`."""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alcor import errors
from alcor.ipam import pools
from alcor.resources import quota
from alcor.resources.context import Context, NoAuth
from alcor.resources.model import Resource
from alcor.store.db import Database, UnitOfWork

_encoder = msgspec.json.Encoder()

QUOTA_EXTENSIONS = ("quotas", "quota_details", "network-ip-availability")


def _json(data: Any, status: int = 200) -> Response:
    return Response(_encoder.encode(data), status, media_type="application/json")


def _forbidden(rule: str) -> errors.NeutronError:
    return errors.typed(
        errors.NotAuthorized, "PolicyNotAuthorized", f"{rule} is disallowed by policy"
    )


def _project(request: Request) -> str:
    name = str(request.path_params["project_id"])
    return name[:-5] if name.endswith(".json") else name


class QuotaApi:
    """Routes for `/v2.0/quotas...` and `/v2.0/network-ip-availabilities...`."""

    def __init__(self, db: Database, auth: NoAuth, resources: dict[str, Resource]) -> None:
        self.db = db
        self.auth = auth
        self.counted = {r.quota: r.table for r in resources.values() if r.quota is not None}
        self.networks = resources["networks"]
        self.subnets = resources["subnets"]

    def _ctx(self, request: Request, project_id: str | None = None) -> Context:
        ctx = self.auth.context(request.headers)
        if not ctx.is_admin and project_id != ctx.project_id:
            raise _forbidden("rule:get_quota")
        return ctx

    # -- quotas ----------------------------------------------------------------------
    async def list_quotas(self, request: Request) -> Response:
        self._ctx(request)

        def read(conn: sa.Connection) -> list[dict[str, Any]]:
            projects = [r[0] for r in conn.execute(sa.select(quota.quotas.c.project_id).distinct())]
            return [
                {**quota.LIMITS.of_project(conn, p), "project_id": p, "tenant_id": p}
                for p in sorted(projects)
            ]

        return _json({"quotas": await self.db.read(read)})

    async def quota(self, request: Request) -> Response:
        project = _project(request)
        ctx = self.auth.context(request.headers)
        if request.method == "GET":
            self._ctx(request, project)
            return _json({"quota": await self.db.read(quota.LIMITS.of_project, project)})
        if not ctx.is_admin:
            raise _forbidden(f"rule:{'update' if request.method == 'PUT' else 'delete'}_quota")
        if request.method == "DELETE":
            await self.db.write(
                lambda uow: uow.execute(
                    quota.quotas.delete().where(quota.quotas.c.project_id == project)
                )
            )
            return Response(status_code=204)
        limits = _limits_from(await request.body())

        def write(uow: UnitOfWork) -> dict[str, int]:
            for key, limit in limits.items():
                where = (quota.quotas.c.project_id == project) & (quota.quotas.c.resource == key)
                if (
                    uow.execute(quota.quotas.update().where(where).values(limit=limit)).rowcount
                    == 0
                ):
                    uow.execute(
                        quota.quotas.insert().values(project_id=project, resource=key, limit=limit)
                    )
            return quota.LIMITS.of_project(uow, project)

        return _json({"quota": await self.db.write(write)})

    async def defaults(self, request: Request) -> Response:
        self._ctx(request, _project(request))
        return _json({"quota": dict(quota.LIMITS.defaults)})

    async def details(self, request: Request) -> Response:
        project = _project(request)
        self._ctx(request, project)

        def read(conn: sa.Connection) -> dict[str, Any]:
            limits = quota.LIMITS.of_project(conn, project)
            return {
                key: {
                    "limit": limit,
                    "used": quota.count(conn, self.counted[key], project)
                    if key in self.counted
                    else 0,
                    "reserved": 0,
                }
                for key, limit in limits.items()
            }

        return _json({"quota": await self.db.read(read)})

    # -- network IP availability -------------------------------------------------------
    async def availabilities(self, request: Request) -> Response:
        ctx = self.auth.context(request.headers)
        if not ctx.is_admin:
            raise _forbidden("rule:get_network_ip_availability")
        network_id = request.path_params.get("network_id")
        filters: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            if key not in ("network_id", "network_name", "ip_version", "project_id", "tenant_id"):
                raise errors.BadRequest(f"[{key}] is invalid attribute for filtering")
            filters.setdefault("project_id" if key == "tenant_id" else key, []).append(value)
        if network_id is not None:
            filters["network_id"] = [network_id.removesuffix(".json")]
        found = await self.db.read(self._availability, filters)
        if network_id is not None:
            if not found:
                raise errors.not_found("network", network_id)
            return _json({"network_ip_availability": found[0]})
        return _json({"network_ip_availabilities": found})

    def _availability(
        self, conn: sa.Connection, filters: dict[str, list[str]]
    ) -> list[dict[str, Any]]:
        """Per network and subnet: addresses in the allocation pools, and allocations."""
        n, s = self.networks.table, self.subnets.table
        query = sa.select(n.c.id, n.c.name, n.c.project_id).order_by(n.c.id)
        if "network_id" in filters:
            query = query.where(n.c.id.in_(filters["network_id"]))
        if "network_name" in filters:
            query = query.where(n.c.name.in_(filters["network_name"]))
        if "project_id" in filters:
            query = query.where(n.c.project_id.in_(filters["project_id"]))
        nets = conn.execute(query).all()
        versions = [int(v) for v in filters.get("ip_version", []) if v.isdigit()]
        out = []
        for net in nets:
            sub_query = sa.select(s.c.id, s.c.name, s.c.cidr, s.c.ip_version).where(
                s.c.network_id == net.id
            )
            if "ip_version" in filters:
                sub_query = sub_query.where(s.c.ip_version.in_(versions))
            subnets = [
                {
                    "subnet_id": sub.id,
                    "subnet_name": sub.name,
                    "cidr": sub.cidr,
                    "ip_version": sub.ip_version,
                    "total_ips": pools.size(conn, sub.id),
                    "used_ips": pools.used_count(conn, sub.id),
                }
                for sub in conn.execute(sub_query.order_by(s.c.created_at, s.c.id))
            ]
            if "ip_version" in filters and not subnets:
                continue
            out.append(
                {
                    "network_id": net.id,
                    "network_name": net.name,
                    "project_id": net.project_id,
                    "tenant_id": net.project_id,
                    "total_ips": sum(x["total_ips"] for x in subnets),
                    "used_ips": sum(x["used_ips"] for x in subnets),
                    "subnet_ip_availability": subnets,
                }
            )
        return out

    def routes(self) -> list[Route]:
        return [
            Route("/v2.0/quotas", self.list_quotas, methods=["GET"]),
            Route("/v2.0/quotas.json", self.list_quotas, methods=["GET"]),
            Route("/v2.0/quotas/{project_id}", self.quota, methods=["GET", "PUT", "DELETE"]),
            Route("/v2.0/quotas/{project_id}/default", self.defaults, methods=["GET"]),
            Route("/v2.0/quotas/{project_id}/default.json", self.defaults, methods=["GET"]),
            Route("/v2.0/quotas/{project_id}/details", self.details, methods=["GET"]),
            Route("/v2.0/quotas/{project_id}/details.json", self.details, methods=["GET"]),
            Route("/v2.0/network-ip-availabilities", self.availabilities, methods=["GET"]),
            Route(
                "/v2.0/network-ip-availabilities/{network_id}",
                self.availabilities,
                methods=["GET"],
            ),
        ]


def _limits_from(raw: bytes) -> dict[str, int]:
    """A PUT body `{"quota": {"port": 10, ...}}`: known keys, integers >= -1."""
    try:
        body = msgspec.json.decode(raw) if raw else None
    except msgspec.DecodeError:
        raise errors.typed(
            errors.BadRequest, "MalformedRequestBody", "Malformed request body: not valid JSON"
        ) from None
    if not isinstance(body, dict) or not isinstance(body.get("quota"), dict) or len(body) != 1:
        raise errors.BadRequest("Unable to find 'quota' in request body")
    out = {}
    for key, value in body["quota"].items():
        if key not in quota.DEFAULTS:
            raise errors.BadRequest(f"Unrecognized attribute(s) '{key}'")
        limit = None
        if isinstance(value, int) and not isinstance(value, bool):
            limit = value
        elif isinstance(value, str) and value.lstrip("-").isdigit():
            limit = int(value)
        if limit is None or limit < -1:
            raise errors.InvalidInput(
                f"Invalid input for {key}. Reason: '{value}' is not an integer >= -1."
            )
        out[key] = limit
    return out
