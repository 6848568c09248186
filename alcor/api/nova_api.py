"""The calls Nova makes beyond the declared kinds: a port's bindings (`binding-extended`,
`/v2.0/ports/{id}/bindings...`, its live migrations) and the auto-allocated topology
(`auto-allocated-topology`, `/v2.0/auto-allocated-topology/{project}`, its `--nic auto`).

Neither is a declared kind (bindings are keyed by host under a port, topologies by project),
so they have their own few routes; what they mean lives in `alcor.resources.port_bindings`
and `alcor.resources.auto_allocate`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alcor.resources import auto_allocate, port_bindings
from alcor.resources.context import Authenticator
from alcor.store.db import Database

_encoder = msgspec.json.Encoder()

NOVA_EXTENSIONS = ("binding-extended", "auto-allocated-topology")


def _json(data: Any, status: int = 200) -> Response:
    return Response(_encoder.encode(data), status, media_type="application/json")


def _param(request: Request, name: str) -> str:
    value = str(request.path_params[name])
    return value[:-5] if value.endswith(".json") else value


class NovaApi:
    """Routes for a port's bindings (list, create, show, delete, activate) and a project's
    auto-allocated topology (get or make, dry run, delete)."""

    def __init__(
        self,
        db: Database,
        auth: Authenticator,
        body: Callable[[Request], Awaitable[Any]],
        agent_down_time: float,
    ) -> None:
        self.db = db
        self.auth = auth
        self.body = body
        self.agent_down_time = agent_down_time

    async def collection(self, request: Request) -> Response:
        ctx = await self.auth.context(request.headers)
        port_id = request.path_params["rid"]
        if request.method == "POST":
            attrs = port_bindings.check_body(await self.body(request))
            made = await self.db.write(
                port_bindings.create, ctx, port_id, attrs, self.agent_down_time
            )
            return _json({"binding": made}, 201)
        filters: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            filters.setdefault(key, []).append(value)
        fields = filters.pop("fields", [])
        found = await self.db.read(port_bindings.listing, ctx, port_id, filters, fields)
        return _json({"bindings": found})

    async def member(self, request: Request) -> Response:
        ctx = await self.auth.context(request.headers)
        port_id, host = request.path_params["rid"], _param(request, "host")
        if request.method == "DELETE":
            await self.db.write(port_bindings.delete, ctx, port_id, host)
            return Response(status_code=204)
        fields = request.query_params.getlist("fields")
        found = await self.db.read(port_bindings.show, ctx, port_id, host, fields)
        return _json({"binding": found})

    async def activate(self, request: Request) -> Response:
        ctx = await self.auth.context(request.headers)
        port_id, host = request.path_params["rid"], _param(request, "host")
        found = await self.db.write(port_bindings.activate, ctx, port_id, host)
        return _json({"binding": found})

    async def topology(self, request: Request) -> Response:
        ctx = await self.auth.context(request.headers)
        project = _param(request, "project_id")
        if request.method == "DELETE":
            await self.db.write(auto_allocate.delete, ctx, project)
            return Response(status_code=204)
        fields = request.query_params.getlist("fields")
        found = await self.db.write(auto_allocate.get, ctx, project, fields)
        return _json({"auto_allocated_topology": found})

    def routes(self) -> list[Route]:
        base = "/v2.0/ports/{rid}/bindings"
        return [
            Route(
                "/v2.0/auto-allocated-topology/{project_id}",
                self.topology,
                methods=["GET", "DELETE"],
            ),
            Route(base, self.collection, methods=["GET", "POST"]),
            Route(base + ".json", self.collection, methods=["GET", "POST"]),
            Route(base + "/{host}", self.member, methods=["GET", "DELETE"]),
            Route(base + "/{host}/activate", self.activate, methods=["PUT"]),
        ]
