"""`/v2.0/ports/{id}/bindings...` (`binding-extended`): the calls Nova's live migration makes.

A port's bindings are a sub-resource keyed by host, not a declared kind, so they have their
own few routes; what they mean lives in `alcor.resources.port_bindings`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alcor.resources import port_bindings
from alcor.resources.context import Authenticator
from alcor.store.db import Database

_encoder = msgspec.json.Encoder()

BINDING_EXTENSIONS = ("binding-extended",)


def _json(data: Any, status: int = 200) -> Response:
    return Response(_encoder.encode(data), status, media_type="application/json")


def _host(request: Request) -> str:
    host = str(request.path_params["host"])
    return host[:-5] if host.endswith(".json") else host


class BindingApi:
    """Routes for a port's bindings: list, create, show, delete, activate."""

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
        port_id, host = request.path_params["rid"], _host(request)
        if request.method == "DELETE":
            await self.db.write(port_bindings.delete, ctx, port_id, host)
            return Response(status_code=204)
        fields = request.query_params.getlist("fields")
        found = await self.db.read(port_bindings.show, ctx, port_id, host, fields)
        return _json({"binding": found})

    async def activate(self, request: Request) -> Response:
        ctx = await self.auth.context(request.headers)
        port_id, host = request.path_params["rid"], _host(request)
        found = await self.db.write(port_bindings.activate, ctx, port_id, host)
        return _json({"binding": found})

    def routes(self) -> list[Route]:
        base = "/v2.0/ports/{rid}/bindings"
        return [
            Route(base, self.collection, methods=["GET", "POST"]),
            Route(base + ".json", self.collection, methods=["GET", "POST"]),
            Route(base + "/{host}", self.member, methods=["GET", "DELETE"]),
            Route(base + "/{host}/activate", self.activate, methods=["PUT"]),
        ]
