"""OpenAPI 3 document generated from the resource declarations.

Clients and fuzzers (schemathesis) are pointed at `/openapi.json`; because it is derived from
the same `Attr` declarations that validate requests, it cannot drift from the server.
"""

from __future__ import annotations

from typing import Any

from alcor.resources import kinds
from alcor.resources.context import DEFAULT_POLICY
from alcor.resources.model import Attr, Resource

ERROR = {"$ref": "#/components/schemas/NeutronError"}


def _schema(attr: Attr) -> dict[str, Any]:
    schema = dict(attr.kind.json_schema or {})
    if isinstance(attr.kind, kinds.Json) and not schema:
        schema = {}
    if (attr.nullable or attr.null_is_empty) and schema:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


def _body(res: Resource, creating: bool) -> dict[str, Any]:
    attrs = [a for a in res.attrs.values() if (a.post if creating else a.put)]
    props = {a.name: _schema(a) for a in attrs}
    if creating and res.project_scoped:
        props["tenant_id"] = props.get("project_id", {"type": "string"})
    inner: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    required = [a.name for a in attrs if creating and a.required]
    if required:
        inner["required"] = required
    return {
        "type": "object",
        "properties": {res.name: inner},
        "required": [res.name],
        "additionalProperties": False,
    }


def _errors(*codes: int) -> dict[str, Any]:
    return {
        str(c): {"description": "Neutron error", "content": {"application/json": {"schema": ERROR}}}
        for c in codes
    }


def _ok(code: int, description: str) -> dict[str, Any]:
    return {
        str(code): {
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    }


def document(resources: list[Resource]) -> dict[str, Any]:
    """The whole OpenAPI 3.0 document for the served resources."""
    paths: dict[str, Any] = {}
    for res in resources:
        filters = [
            {"name": a.name, "in": "query", "required": False, "schema": {"type": "string"}}
            for a in res.attrs.values()
            if a.filter
            and a.stored
            and a.kind.filterable()
            and not DEFAULT_POLICY.has(f"get_{res.name}:{a.name}")
        ]
        paging = [
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0}},
            {"name": "marker", "in": "query", "schema": {"type": "string", "format": "uuid"}},
            {"name": "sort_key", "in": "query", "schema": {"type": "string"}},
            {
                "name": "sort_dir",
                "in": "query",
                "schema": {"type": "string", "enum": ["asc", "desc"]},
            },
            {"name": "fields", "in": "query", "schema": {"type": "string"}},
        ]
        rid = [
            {
                "name": "id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "format": "uuid"},
            }
        ]
        paths[f"/v2.0/{res.collection}"] = {
            "get": {
                "operationId": f"list_{res.plural}",
                "parameters": filters + paging,
                "responses": {**_ok(200, f"list of {res.plural}"), **_errors(400)},
            },
            "post": {
                "operationId": f"create_{res.name}",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _body(res, True)}},
                },
                "responses": {**_ok(201, f"created {res.name}"), **_errors(400, 403, 404, 409)},
            },
        }
        paths[f"/v2.0/{res.collection}/{{id}}"] = {
            "get": {
                "operationId": f"show_{res.name}",
                "parameters": rid,
                "responses": {**_ok(200, res.name), **_errors(404)},
            },
            "put": {
                "operationId": f"update_{res.name}",
                "parameters": rid,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _body(res, False)}},
                },
                "responses": {
                    **_ok(200, f"updated {res.name}"),
                    **_errors(400, 403, 404, 409, 412),
                },
            },
            "delete": {
                "operationId": f"delete_{res.name}",
                "parameters": rid,
                "responses": {"204": {"description": "deleted"}, **_errors(404, 409)},
            },
        }
        for action in res.hooks.actions():
            paths[f"/v2.0/{res.collection}/{{id}}/{action}"] = {
                "put": {
                    "operationId": f"{action}_{res.name}",
                    "parameters": rid,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "responses": {**_ok(200, action), **_errors(400, 403, 404, 409)},
                }
            }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Alcor Networking API (Neutron v2.0)", "version": "2.0"},
        "paths": paths,
        "components": {
            "schemas": {
                "NeutronError": {
                    "type": "object",
                    "required": ["NeutronError"],
                    "properties": {
                        "NeutronError": {
                            "type": "object",
                            "required": ["type", "message", "detail"],
                            "properties": {
                                "type": {"type": "string"},
                                "message": {"type": "string"},
                                "detail": {"type": "string"},
                            },
                        }
                    },
                }
            }
        },
    }
