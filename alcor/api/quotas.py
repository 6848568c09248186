"""The quota API (`quotas`, `quota_details`) and network IP availability, as Neutron serves
them: not declared resources (they are keyed by project or computed), so they have their
own few routes. Every rule about limits lives in `alcor.resources.quota`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alcor import errors
from alcor.resources import kinds, quota
from alcor.resources.context import Authenticator, Context
from alcor.resources.model import Resource
from alcor.resources.query import check_filter_values
from alcor.store.db import Database

_encoder = msgspec.json.Encoder()

QUOTA_EXTENSIONS = (
    "quotas",
    "quota_details",
    "quota-check-limit",
    "quota-check-limit-default",
    "network-ip-availability",
)
AVAILABILITY_FILTERS = ("network_id", "network_name", "ip_version", "project_id", "tenant_id")


def _json(data: Any, status: int = 200) -> Response:
    return Response(_encoder.encode(data), status, media_type="application/json")


def _project(request: Request) -> str:
    name = str(request.path_params["project_id"])
    return name[:-5] if name.endswith(".json") else name


class QuotaApi:
    """Routes for `/v2.0/quotas...` and `/v2.0/network-ip-availabilities...`."""

    def __init__(
        self,
        db: Database,
        auth: Authenticator,
        resources: dict[str, Resource],
        body: Callable[[Request], Awaitable[Any]],
        max_filter_values: int,
    ) -> None:
        self.db = db
        self.auth = auth
        self.body = body
        self.max_filter_values = max_filter_values
        self.counted = {r.quota: r.table for r in resources.values() if r.quota is not None}
        self.networks = resources["networks"].table
        self.subnets = resources["subnets"].table

    async def _ctx(self, request: Request, rule: str, project_id: str | None = None) -> Context:
        """The caller, if Neutron's `rule` lets it act on `project_id`'s quota (None: every
        project's). As in Neutron's quota controller, a project reads its own quota (limits,
        defaults, details) whatever `get_quota` says: the policy guards other projects'."""
        ctx = await self.auth.context(request.headers)
        if rule == "get_quota" and project_id is not None and project_id == ctx.project_id:
            return ctx
        ctx.policy.enforce(ctx, rule, {} if project_id is None else {"project_id": project_id})
        return ctx

    # -- quotas ----------------------------------------------------------------------
    async def list_quotas(self, request: Request) -> Response:
        await self._ctx(request, "get_quota")
        return _json({"quotas": await self.db.read(quota.all_projects)})

    async def quota(self, request: Request) -> Response:
        project = _project(request)
        action = {"GET": "get", "PUT": "update"}.get(request.method, "delete")
        await self._ctx(request, f"{action}_quota", project)
        if request.method == "GET":
            return _json({"quota": await self.db.read(quota.LIMITS.of_project, project)})
        if request.method == "DELETE":
            await self.db.write(quota.reset, project)
            return Response(status_code=204)
        limits, force = _limits_from(await self.body(request))
        return _json(
            {"quota": await self.db.write(quota.set_limits, project, limits, self.counted, force)}
        )

    async def defaults(self, request: Request) -> Response:
        await self._ctx(request, "get_quota", _project(request))
        return _json({"quota": dict(quota.LIMITS.defaults)})

    async def details(self, request: Request) -> Response:
        project = _project(request)
        await self._ctx(request, "get_quota", project)
        return _json({"quota": await self.db.read(quota.details, project, self.counted)})

    # -- network IP availability -------------------------------------------------------
    async def availabilities(self, request: Request) -> Response:
        await self._ctx(request, "get_network_ip_availability")
        network_id = request.path_params.get("network_id")
        filters: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            if key not in AVAILABILITY_FILTERS:
                raise errors.BadRequest(f"[{kinds.shown(key)}] is invalid attribute for filtering")
            filters.setdefault("project_id" if key == "tenant_id" else key, []).append(value)
        check_filter_values(filters, self.max_filter_values)
        if network_id is not None:
            filters["network_id"] = [network_id.removesuffix(".json")]
        found = await self.db.read(quota.ip_availability, self.networks, self.subnets, filters)
        if network_id is not None:
            if not found:
                raise errors.not_found("network", network_id)
            return _json({"network_ip_availability": found[0]})
        return _json({"network_ip_availabilities": found})

    def routes(self) -> list[Route]:
        availabilities = [
            route
            for spelling in ("network-ip-availabilities", "network_ip_availabilities")
            for route in (
                Route(f"/v2.0/{spelling}", self.availabilities, methods=["GET"]),
                Route(f"/v2.0/{spelling}/{{network_id}}", self.availabilities, methods=["GET"]),
            )
        ]
        return [
            Route("/v2.0/quotas", self.list_quotas, methods=["GET"]),
            Route("/v2.0/quotas.json", self.list_quotas, methods=["GET"]),
            Route("/v2.0/quotas/{project_id}", self.quota, methods=["GET", "PUT", "DELETE"]),
            Route("/v2.0/quotas/{project_id}/default", self.defaults, methods=["GET"]),
            Route("/v2.0/quotas/{project_id}/default.json", self.defaults, methods=["GET"]),
            Route("/v2.0/quotas/{project_id}/details", self.details, methods=["GET"]),
            Route("/v2.0/quotas/{project_id}/details.json", self.details, methods=["GET"]),
            *availabilities,
        ]


def _limits_from(body: Any) -> tuple[dict[str, int], bool]:
    """A PUT body `{"quota": {"port": 10, ..., "force": true}}`: the limits, and whether
    they are forced (set below what the project already uses). `check_limit`, the older
    request to check, is accepted and ignored: checking is the default, as in Neutron
    since 2025.1."""
    if not isinstance(body, dict) or not isinstance(body.get("quota"), dict) or len(body) != 1:
        raise errors.BadRequest("Unable to find 'quota' in request body")
    given = dict(body["quota"])
    force = given.pop("force", None) is True  # Neutron: only a JSON true forces
    given.pop("check_limit", None)
    return quota.checked_limits(given), force
