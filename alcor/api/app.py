"""The Neutron v2.0 HTTP API: one generic controller serving every declared resource.

HTTP concerns only: routing, the caller's context, parsing bodies and query strings, turning
results and errors into Neutron's JSON shapes. Every rule about resources lives in
`alcor.resources`; every write is one unit of work in `alcor.store`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import msgspec
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alcor import errors
from alcor.api import bodies, extensions, openapi
from alcor.api.live import LiveEvents
from alcor.api.nova_api import NOVA_EXTENSIONS, NovaApi
from alcor.api.quotas import QUOTA_EXTENSIONS, QuotaApi
from alcor.api.webview import WebView
from alcor.reachability import intent, verdict
from alcor.resources import authz, availability_zones, crud, floatingip_pools
from alcor.resources.context import Authenticator, Context
from alcor.resources.model import Hooks, Resource
from alcor.resources.query import ListQuery
from alcor.southbound import audit
from alcor.store.db import Database
from alcor.store.provisioning import timeline, trace

log = logging.getLogger("alcor.api")

_encoder = msgspec.json.Encoder()

Lifespan = Callable[[Starlette], Any]


def json_response(data: Any, status: int = 200) -> Response:
    return Response(_encoder.encode(data), status, media_type="application/json")


def error_response(err: errors.NeutronError) -> Response:
    resp = json_response(err.body(), err.code)
    if err.headers:
        resp.headers.update(err.headers)
    return resp


def _strip_json(name: str) -> str:
    return name[:-5] if name.endswith(".json") else name


def _dashed(collection: str) -> str:
    """Neutron routes `/v2.0/security_groups` as `/v2.0/security-groups`."""
    return _strip_json(collection).replace("_", "-")


def _both_spellings(path: str, handler: Any) -> list[Route]:
    """A read-only collection served outside the generic routes, under both spellings as
    Neutron's router takes any collection (`floatingip-pools` is what tempest asks for)."""
    return [Route(p, handler, methods=["GET"]) for p in (path, path.replace("_", "-"))]


class Api:
    """Routes and handlers, bound to a database and the declared resources."""

    def __init__(
        self,
        db: Database,
        resources: list[Resource],
        *,
        auth: Authenticator,
        max_page_size: int,
        max_body_size: int,
        max_bulk_body_size: int,
        max_filter_values: int,
        agent_down_time: float = 75.0,
        live: LiveEvents | None = None,
    ) -> None:
        self.db = db
        self.agent_down_time = agent_down_time
        self.resources = {r.collection: r for r in resources if r.parent is None}
        # sub-resources, served under their parent's members: parent collection -> kinds
        self.children = {
            (Resource.declared(r.parent).collection, r.plural): r
            for r in resources
            if r.parent is not None
        }
        self.auth = auth
        self.max_page = max_page_size
        self.max_body = max_body_size
        self.max_bulk_body = max_bulk_body_size
        self.max_filter_values = max_filter_values
        self.extensions = extensions.enabled(
            [a for r in resources for a in r.extensions]
            + list(QUOTA_EXTENSIONS)
            + list(NOVA_EXTENSIONS)
        )
        self.quotas = QuotaApi(db, auth, self.resources, self.body, max_filter_values)
        self.nova = NovaApi(db, auth, self.body, agent_down_time)
        self.webview = WebView(auth, live or LiveEvents(db))

    # -- plumbing --------------------------------------------------------------------
    async def context(self, request: Request) -> Context:
        return await self.auth.context(request.headers)

    def resource(self, collection: str) -> Resource:
        res = self.resources.get(_dashed(collection))
        if res is None:
            raise errors.NotFound("The resource could not be found.")
        return res

    async def body(self, request: Request) -> Any:
        """The JSON body of any write but a create (those may be bulk: see `_create`)."""
        return bodies.decode(await bodies.read(request, self.max_body, "max_request_body_size"))

    def query(self, request: Request) -> ListQuery:
        return ListQuery.from_params(request.query_params.multi_items(), self.max_filter_values)

    # -- documents -------------------------------------------------------------------
    async def versions(self, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return json_response(
            {
                "versions": [
                    {
                        "status": "CURRENT",
                        "id": "v2.0",
                        "links": [{"href": f"{base}/v2.0/", "rel": "self"}],
                    }
                ]
            }
        )

    async def root_v2(self, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return json_response(
            {
                "resources": [
                    {
                        "name": r.name,
                        "collection": r.plural,
                        "links": [{"href": f"{base}/v2.0/{r.collection}", "rel": "self"}],
                    }
                    for r in self.resources.values()
                ]
            }
        )

    async def list_extensions(self, request: Request) -> Response:
        await self.context(request)  # as in Neutron, behind authentication
        return json_response({"extensions": self.extensions})

    async def show_extension(self, request: Request) -> Response:
        await self.context(request)
        alias = _strip_json(request.path_params["alias"])
        for ext in self.extensions:
            if ext["alias"] == alias:
                return json_response({"extension": ext})
        raise errors.ExtensionNotFound(alias=alias)

    async def openapi_doc(self, request: Request) -> Response:
        return json_response(openapi.document(list(self.resources.values())))

    # -- collection ------------------------------------------------------------------
    async def collection(self, request: Request) -> Response:
        res = self.resource(request.path_params["collection"])
        ctx = await self.context(request)
        if request.method == "GET":
            return await self._list(request, res, ctx)
        return await self._create(request, res, ctx)

    async def _prepare_read(
        self, res: Resource, ctx: Context, filters: dict[str, list[str]] | None = None
    ) -> None:
        """Run the write a kind needs before `ctx` reads it (e.g. the default security
        group), only when the read side says it is missing."""
        if type(res.hooks).read_needs is Hooks.read_needs:
            return  # the kind needs nothing: spare every read a thread hop
        needed = await self.db.read(res.hooks.read_needs, ctx, filters or {})
        if needed is not None:
            await self.db.write(needed)

    async def _list(
        self,
        request: Request,
        res: Resource,
        ctx: Context,
        within: dict[str, list[str]] | None = None,
    ) -> Response:
        """A list response; `within`: filters the path fixes (a sub-resource's parent)."""
        q = self.query(request)
        q.filters.update(within or {})
        await self._prepare_read(res, ctx, q.filters)
        items, paging = await self.db.read(crud.list_items, res, ctx, q, self.max_page)
        fields = q.fields or None
        out: dict[str, Any] = {res.plural: crud.render_many(res, ctx, items, fields)}
        links = []
        for rel in ("next", "previous"):
            marker = paging.get(rel)
            if marker is not None:
                params = [
                    (k, v)
                    for k, v in request.query_params.multi_items()
                    if k not in ("marker", "page_reverse", "limit")
                ]
                params.append(("limit", paging["limit"] or ""))
                if marker:
                    params.append(("marker", marker))
                if rel == "previous":
                    params.append(("page_reverse", "True"))
                links.append(
                    {
                        "rel": rel,
                        "href": f"{str(request.base_url).rstrip('/')}"
                        f"{request.url.path}?{urlencode(params)}",
                    }
                )
        if links:
            out[f"{res.plural}_links"] = links
        return json_response(out)

    async def _create(self, request: Request, res: Resource, ctx: Context) -> Response:
        raw = await bodies.read(request, self.max_bulk_body, "max_bulk_request_body_size")
        bulk, items = await bodies.off_loop(len(raw), self._check_create, res, ctx, raw)

        def work(uow: Any) -> list[dict[str, Any]]:
            created = crud.create_many(uow, res, ctx, crud.fresh(items), authorize=True)
            res.hooks.extend(uow.conn, ctx, created)
            return created

        created = await self.db.write(work)
        return await bodies.off_loop(len(raw), self._created, res, ctx, created, bulk)

    def _check_create(
        self, res: Resource, ctx: Context, raw: bytes
    ) -> tuple[bool, list[dict[str, Any]]]:
        """Whether a create body is bulk, and its validated items."""
        body = bodies.decode(raw)
        if (
            not isinstance(body, dict)
            or len(body) != 1
            or next(iter(body)) not in (res.name, res.plural)
        ):
            raise errors.BadRequest(f"Unable to find '{res.name}' in request body")
        key, payload = next(iter(body.items()))
        if key == res.name:
            if len(raw) > self.max_body:
                raise bodies.too_large(self.max_body, "max_request_body_size")
            return False, [crud.check_body(res, ctx, payload, creating=True)]
        if not isinstance(payload, list) or not payload:
            raise errors.BadRequest(f"Resources required: '{res.plural}' must be a non-empty list")
        # Each item may be bare or wrapped as a single create's body, as Neutron takes them:
        # {"ports": [{"network_id": ...}]} or {"ports": [{"port": {"network_id": ...}}]}.
        return True, [
            crud.check_body(
                res,
                ctx,
                p[res.name] if isinstance(p, dict) and res.name in p else p,
                creating=True,
            )
            for p in payload
        ]

    def _created(
        self, res: Resource, ctx: Context, created: list[dict[str, Any]], bulk: bool
    ) -> Response:
        rendered = crud.render_many(res, ctx, created)
        if bulk:
            return json_response({res.plural: rendered}, 201)
        return json_response({res.name: rendered[0]}, 201)

    # -- member ----------------------------------------------------------------------
    async def member(self, request: Request) -> Response:
        res = self.resource(request.path_params["collection"])
        rid = _strip_json(request.path_params["rid"])
        ctx = await self.context(request)
        if request.method == "GET":
            q = self.query(request)
            await self._prepare_read(res, ctx)
            item = await self.db.read(crud.get, res, ctx, rid)
            return json_response({res.name: crud.render(res, ctx, item, q.fields or None)})
        if request.method == "DELETE":
            await self.db.write(crud.delete, res, ctx, rid, _if_match(request), True)
            return Response(status_code=204)
        if not res.updatable:
            raise _method_not_allowed(request)
        body = await self.body(request)
        if not isinstance(body, dict) or set(body) != {res.name}:
            raise errors.BadRequest(f"Unable to find '{res.name}' in request body")
        changes = crud.check_body(res, ctx, body[res.name], creating=False)
        if_match = _if_match(request)

        def work(uow: Any) -> dict[str, Any]:
            item = crud.update(uow, res, ctx, rid, changes, if_match, authorize=True)
            res.hooks.extend(uow.conn, ctx, [item])
            return item

        item = await self.db.write(work)
        return json_response({res.name: crud.render(res, ctx, item)})

    async def action(self, request: Request) -> Response:
        """`PUT /v2.0/<collection>/<id>/<action>`: a kind's member action in one unit of work
        (add_router_interface, add_extraroutes, ...)."""
        res = self.resource(request.path_params["collection"])
        name = request.path_params["action"]
        func = res.hooks.actions().get(name)
        if func is None:
            raise errors.NotFound("The resource could not be found.")
        ctx = await self.context(request)
        rid = request.path_params["rid"]
        body = await self.body(request)
        if not isinstance(body, dict):
            raise errors.BadRequest("The request body must be a JSON object")

        def work(uow: Any) -> Any:
            authz.enforce_on(uow, res, ctx, name, rid)  # the action's own rule, by its name
            return func(uow, ctx, rid, body)

        return json_response(await self.db.write(work))

    # -- sub-resources (`/v2.0/floatingips/{id}/port_forwardings`) -----------------------
    def _child(self, request: Request) -> tuple[Resource, Resource, str, str]:
        """(parent kind, child kind, parent id, the child's parent attribute) of a
        sub-resource path; 404 for one nothing declares."""
        found = self.children.get(
            (_dashed(request.path_params["collection"]), request.path_params["child"])
        )
        if found is None:
            raise errors.NotFound("The resource could not be found.")
        parent = self.resource(request.path_params["collection"])
        attr = found.parent_attr()
        assert attr is not None  # a sub-resource is declared with `parent(...)`
        return parent, found, request.path_params["rid"], attr

    async def child_collection(self, request: Request) -> Response:
        """List or create the children of one parent item; the parent must be visible (its
        own NotFound otherwise), as Neutron's sub-resource controllers check."""
        parent, res, pid, attr = self._child(request)
        ctx = await self.context(request)
        if request.method == "GET":
            await self.db.read(crud.fetch, parent, ctx, pid)
            return await self._list(request, res, ctx, {attr: [pid]})
        body = await self.body(request)
        if not isinstance(body, dict) or set(body) != {res.name}:
            raise errors.BadRequest(f"Unable to find '{res.name}' in request body")
        payload = body[res.name]
        if isinstance(payload, dict) and attr in payload:
            raise errors.BadRequest(f"Unrecognized attribute(s) '{attr}'")
        item = crud.check_body(res, ctx, {**_as_dict(payload), attr: pid}, creating=True)

        def work(uow: Any) -> dict[str, Any]:
            crud.fetch(uow, parent, ctx, pid)
            return crud.create_many(uow, res, ctx, [item], authorize=True)[0]

        created = await self.db.write(work)
        return json_response({res.name: crud.render(res, ctx, created)}, 201)

    async def child_member(self, request: Request) -> Response:
        """Show, update or delete one child of one parent item (the child's NotFound when it
        is not that parent's)."""
        parent, res, pid, attr = self._child(request)
        ctx = await self.context(request)
        cid = _strip_json(request.path_params["cid"])

        def mine(conn: Any) -> dict[str, Any]:
            crud.fetch(conn, parent, ctx, pid)
            item = crud.fetch(conn, res, ctx, cid)
            if item[attr] != pid:
                raise res.not_found(cid)
            return item

        if request.method == "GET":
            q = self.query(request)
            item = await self.db.read(mine)
            return json_response({res.name: crud.render(res, ctx, item, q.fields or None)})
        if request.method == "DELETE":

            def gone(uow: Any) -> None:
                mine(uow)
                crud.delete(uow, res, ctx, cid, None, True)

            await self.db.write(gone)
            return Response(status_code=204)
        body = await self.body(request)
        if not isinstance(body, dict) or set(body) != {res.name}:
            raise errors.BadRequest(f"Unable to find '{res.name}' in request body")
        changes = crud.check_body(res, ctx, body[res.name], creating=False)

        def work(uow: Any) -> dict[str, Any]:
            mine(uow)
            return crud.update(uow, res, ctx, cid, changes, None, authorize=True)

        return json_response({res.name: crud.render(res, ctx, await self.db.write(work))})

    # -- tags ------------------------------------------------------------------------
    async def tags(self, request: Request) -> Response:
        res = self.resource(request.path_params["collection"])
        rid = request.path_params["rid"]
        tag = request.path_params.get("tag")
        ctx = await self.context(request)
        if not res.taggable:
            raise errors.NotFound("The resource could not be found.")
        if request.method == "GET":
            item = await self.db.read(crud.fetch, res, ctx, rid)
            if tag is None:
                return json_response({"tags": item["tags"] or []})
            if tag in (item["tags"] or []):
                return Response(status_code=204)
            raise errors.TagNotFound(tag=tag, resource=res.name, resource_id=rid)
        if tag is None and request.method == "PUT":
            body = await self.body(request)
            if not isinstance(body, dict) or not isinstance(body.get("tags"), list):
                raise errors.BadRequest('Invalid tags body: expected {"tags": [...]}')
            tags = body["tags"]
            if all(isinstance(t, str) for t in tags):
                tags = list(dict.fromkeys(tags))  # repeats taken once; others refused below
            new_tags = res.attrs["tags"].kind.check("tags", tags)
        else:
            new_tags = None

        def work(uow: Any) -> dict[str, Any]:
            current = list(crud.fetch(uow, res, ctx, rid, for_update=True)["tags"] or [])
            if new_tags is not None:
                wanted = new_tags
            elif tag is None:  # DELETE all
                wanted = []
            elif request.method == "PUT":
                res.attrs["tags"].kind.check("tags", [tag])
                wanted = current if tag in current else [*current, tag]
            else:
                if tag not in current:
                    raise errors.TagNotFound(tag=tag, resource=res.name, resource_id=rid)
                wanted = [t for t in current if t != tag]
            return crud.update(uow, res, ctx, rid, {"tags": wanted}, authorize=True)

        item = await self.db.write(work)
        if request.method == "PUT" and tag is None:
            return json_response({"tags": item["tags"]})
        return Response(status_code=201 if request.method == "PUT" else 204)

    # -- port provisioning (Alcor additions, admin only by default policy) -----------
    async def _port_view(
        self,
        request: Request,
        rule: str,
        key: str,
        view: Callable[[sa.Connection, dict[str, Any]], Any],
    ) -> Response:
        """A view of one port allowed by policy `rule`: `view(conn, port)` under `key`."""
        ctx = await self.context(request)
        ctx.policy.enforce(ctx, rule, {})
        port_id = request.path_params["rid"]
        res = self.resource("ports")

        def read(conn: sa.Connection) -> Any:
            return view(conn, crud.fetch(conn, res, ctx, port_id))

        return json_response({key: await self.db.read(read)})

    async def provisioning(self, request: Request) -> Response:
        """GET /v2.0/ports/{id}/provisioning: when the port was committed, compiled,
        published, received and programmed by its host, and reported back."""
        return await self._port_view(
            request,
            "get_port_provisioning",
            "provisioning",
            lambda conn, port: timeline(conn, port["id"]),
        )

    async def trace(self, request: Request) -> Response:
        """GET /v2.0/ports/{id}/trace: the chain from the API request that last changed the
        port to its host's report, ACTIVE and Nova's notification (`alcor port trace`)."""
        return await self._port_view(
            request,
            "get_port_trace",
            "trace",
            lambda conn, port: {
                **trace(conn, port["id"]),
                "status": port["status"],
                "name": port["name"],
            },
        )

    # -- reachability (Alcor addition) -------------------------------------------------
    async def reachability(self, request: Request) -> Response:
        """GET /v2.0/alcor/reachability?source=&destination=&protocol=&port=: whether the
        source port reaches the destination (port, fixed, floating or outside address), hop
        by hop, from intent (`alcor.reachability`); ends are read with the caller's
        visibility."""
        ctx = await self.context(request)
        question = intent.Question.parse(dict(request.query_params))
        ports = self.resource("ports")

        def read(conn: sa.Connection) -> dict[str, Any]:
            return verdict.analyze(intent.load(conn, ports, ctx, question))

        return json_response({"reachability": await self.db.read(read)})

    # -- readiness (load balancers' health checks) -----------------------------------
    async def ready(self, request: Request) -> Response:
        """GET /readyz: 200 when this replica can reach its database, else 503 (the
        `_database_unavailable` handler): what a load balancer should route by."""
        await self.db.read(_ping)
        return json_response({"ready": True})

    # -- state audit (Alcor addition, admin only) -------------------------------------
    async def state_audit(self, request: Request) -> Response:
        """GET /v2.0/alcor/audit[?host=H...]: per host, whether what its agent reported it
        holds matches intent (`southbound.audit`), and which kinds differ."""
        ctx = await self.context(request)
        ctx.policy.enforce(ctx, "get_state_audit", {})
        wanted = request.query_params.getlist("host") or None
        found = await self.db.read(audit.audit, time.time(), self.agent_down_time, wanted)
        return json_response(
            {
                "audit": [
                    {
                        "host": a.host_id,
                        "state": a.state,
                        "differs": list(a.differs),
                        "reported_at": a.reported_at,
                        "reported": a.reported,
                        "expected": a.expected,
                    }
                    for a in found
                ]
            }
        )

    async def availability_zones(self, request: Request) -> Response:
        """GET /v2.0/availability_zones (`availability_zone`, `availability_zone_filter`)."""
        await self.context(request)  # authenticated callers; no per-item policy
        filters: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            if key not in ("fields", "limit", "marker", "sort_key", "sort_dir"):
                filters.setdefault(key, []).append(value)
        found = await self.db.read(availability_zones.listing, filters)
        return json_response({"availability_zones": found})

    async def floatingip_pools(self, request: Request) -> Response:
        """GET /v2.0/floatingip_pools (`floatingip-pools`)."""
        await self.context(request)  # authenticated callers; no per-item policy
        return json_response({"floatingip_pools": await self.db.read(floatingip_pools.pools)})

    # -- application -----------------------------------------------------------------
    def routes(self) -> list[Route]:
        return [
            Route("/", self.versions, methods=["GET"]),
            Route("/v2.0", self.root_v2, methods=["GET"]),
            Route("/v2.0/", self.root_v2, methods=["GET"]),
            Route("/openapi.json", self.openapi_doc, methods=["GET"]),
            Route("/readyz", self.ready, methods=["GET"]),
            Route("/v2.0/extensions", self.list_extensions, methods=["GET"]),
            Route("/v2.0/extensions.json", self.list_extensions, methods=["GET"]),
            Route("/v2.0/extensions/{alias}", self.show_extension, methods=["GET"]),
            Route("/v2.0/ports/{rid}/provisioning", self.provisioning, methods=["GET"]),
            Route("/v2.0/alcor/audit", self.state_audit, methods=["GET"]),
            Route("/v2.0/ports/{rid}/trace", self.trace, methods=["GET"]),
            Route("/v2.0/alcor/reachability", self.reachability, methods=["GET"]),
            *_both_spellings("/v2.0/floatingip_pools", self.floatingip_pools),
            *_both_spellings("/v2.0/availability_zones", self.availability_zones),
            *self.quotas.routes(),
            *self.nova.routes(),
            *self.webview.routes(),
            Route("/v2.0/{collection}", self.collection, methods=["GET", "POST"]),
            Route("/v2.0/{collection}/{rid}", self.member, methods=["GET", "PUT", "DELETE"]),
            Route("/v2.0/{collection}/{rid}/tags", self.tags, methods=["GET", "PUT", "DELETE"]),
            Route(
                "/v2.0/{collection}/{rid}/tags/{tag}", self.tags, methods=["GET", "PUT", "DELETE"]
            ),
            Route("/v2.0/{collection}/{rid}/{action}", self.action, methods=["PUT"]),
            Route(
                "/v2.0/{collection}/{rid}/{child}", self.child_collection, methods=["GET", "POST"]
            ),
            Route(
                "/v2.0/{collection}/{rid}/{child}/{cid}",
                self.child_member,
                methods=["GET", "PUT", "DELETE"],
            ),
        ]

    def app(self, lifespan: Lifespan | None = None) -> Starlette:
        return Starlette(
            routes=self.routes(),
            exception_handlers={
                errors.NeutronError: _neutron_error,
                HTTPException: _http_error,
                sa.exc.IntegrityError: _integrity_error,
                sa.exc.OperationalError: _database_unavailable,
                sa.exc.InterfaceError: _database_unavailable,
                sa.exc.TimeoutError: _database_unavailable,
                Exception: _unexpected_error,
            },
            lifespan=lifespan,
        )


_ETAG = re.compile(r'(?:^|\s)(W/)?"((?:\\"|.)*?)"')


def _if_match(request: Request) -> int | None:
    """The revision an update is constrained to, as Neutron reads `If-Match`: its entity
    tags (webob's parsing: quoted tags, else the whole header is one), of which those
    `revision_number=<int>` count (any int: -1 simply never matches); others are ignored."""
    header = request.headers.get("if-match")
    if not header or header.strip() == "*":
        return None
    quoted = _ETAG.findall(header)
    tags = [tag for weak, tag in quoted if not weak] if quoted else [header]
    revision = None
    for tag in tags:
        if not tag.startswith("revision_number="):
            continue
        if revision is not None:
            raise errors.BadIfMatchRequest(msg="Multiple revision_number etags are not supported")
        try:
            revision = int(tag.removeprefix("revision_number="))
        except ValueError:
            raise errors.BadIfMatchRequest(
                msg="Revision number etag must be in the format of revision_number=<int>"
            ) from None
    return revision


def _as_dict(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise errors.BadRequest("Body of the request must be an object")
    return payload


def _method_not_allowed(request: Request) -> errors.NeutronError:
    return bodies.http_error(
        405,
        "HTTPMethodNotAllowed",
        f"The method {request.method} is not allowed for this resource.",
    )


async def _neutron_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.NeutronError)
    return error_response(exc)


def _ping(conn: sa.Connection) -> None:
    conn.execute(sa.text("SELECT 1"))


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    """The database cannot be reached (down, restarting, connections lost, pool exhausted):
    a 503 at once, never a hang or a 500; the pool reconnects by itself once it is back
    (pre-ping), so the client's retry is the whole recovery."""
    log.warning("database unavailable: %s", str(exc).splitlines()[0][:300])
    return error_response(
        errors.ServiceUnavailable(
            "The database is unavailable (down or restarting); retry in a few seconds."
        )
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    names = {404: "HTTPNotFound", 405: "HTTPMethodNotAllowed"}
    message = "The resource could not be found." if exc.status_code == 404 else str(exc.detail)
    return error_response(
        bodies.http_error(exc.status_code, names.get(exc.status_code, "HTTPError"), message)
    )


async def _integrity_error(request: Request, exc: Exception) -> Response:
    log.info("integrity conflict: %s", exc)
    return error_response(errors.Conflict())


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    err = errors.NeutronError(
        "Request Failed: internal server error while processing your request."
    )
    err.type_name = "HTTPInternalServerError"
    return error_response(err)
