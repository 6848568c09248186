"""Request ids in-process: the middleware, the log filter, and the unit of work that writes the
id on its change-log rows from the writer thread."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from alcor import metrics
from alcor.api.request_id import (
    GLOBAL_REQUEST_ID,
    ID_FORMAT,
    RequestIdLogFilter,
    RequestIdMiddleware,
    inbound_id,
    new_request_id,
)
from alcor.store import migrate
from alcor.store.db import REQUEST_ID, Database, UnitOfWork
from alcor.store.schema import changelog

CALLER = "req-0b9a3a4e-1f6e-4c1e-9a55-6d2f4c8b7a10"


def _log_change(uow: UnitOfWork, resource_id: str) -> str | None:
    logging.getLogger("alcor.test.writer").info("writing %s", resource_id)
    uow.log("network", resource_id, "create", 1)
    return REQUEST_ID.get()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.addFilter(RequestIdLogFilter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()}{record.request}")  # type: ignore[attr-defined]


@pytest.fixture
def records() -> Any:
    handler = _Records()
    logger = logging.getLogger("alcor.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)


def _app(db: Database) -> Any:
    async def write(request: Request) -> JSONResponse:
        logging.getLogger("alcor.test.handler").info("handling")
        seen_in_writer = await db.write(_log_change, request.path_params["rid"])
        return JSONResponse({"request_id": REQUEST_ID.get(), "writer": seen_in_writer})

    async def boom(request: Request) -> JSONResponse:
        raise RuntimeError("boom")

    async def crash(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": "internal"}, 500)

    app = Starlette(
        routes=[Route("/w/{rid}", write, methods=["POST"]), Route("/boom", boom)],
        exception_handlers={Exception: crash},
    )
    return RequestIdMiddleware(metrics.MetricsMiddleware(app, [], lambda: b"# nothing\n"))


async def _call(app: Any, method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "scheme": "http",
        "server": ("test", 80),
        "client": ("test", 1),
        "root_path": "",
        "http_version": "1.1",
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with contextlib.suppress(RuntimeError):  # Starlette re-raises after its 500 answer
        await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return {"status": start["status"], "headers": dict(start["headers"]), "body": body}


def test_request_id_reaches_the_change_log_and_every_log_line(
    tmp_path: Path, records: _Records
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    migrate.upgrade(db.engine)
    app = _app(db)
    try:
        resp = asyncio.run(_call(app, "POST", "/w/n1", {"X-Openstack-Request-Id": CALLER}))
        rid = resp["headers"][b"x-openstack-request-id"].decode()
        assert ID_FORMAT.fullmatch(rid) and rid != CALLER
        assert resp["body"] == f'{{"request_id":"{rid}","writer":"{rid}"}}'.encode()
        with db.engine.connect() as conn:
            logged = conn.execute(sa.select(changelog.c.request_id)).scalars().all()
        assert logged == [rid]
        # the handler's line names both ids; the writer thread's line names ours
        assert f"handling [{rid} global={CALLER}]" in records.lines
        assert f"writing n1 [{rid}]" in records.lines
        # outside a request: no id, on log lines and on change-log rows alike
        assert db.write_sync(_log_change, "n2") is None
        logging.getLogger("alcor.test").info("idle")
        assert records.lines[-1] == "idle"
    finally:
        db.close()


def test_errors_and_unmatched_paths_get_ids_too(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    app = _app(db)
    try:
        ids = []
        for method, path in (("GET", "/boom"), ("GET", "/nowhere"), ("GET", "/w/x")):
            resp = asyncio.run(_call(app, method, path, {}))
            assert resp["status"] in (500, 404, 405)
            ids.append(resp["headers"][b"x-openstack-request-id"].decode())
        assert all(ID_FORMAT.fullmatch(i) for i in ids) and len(set(ids)) == 3
    finally:
        db.close()


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        (CALLER, True),
        (CALLER.upper().replace("REQ-", "req-"), False),  # oslo's format is lowercase hex
        ("req-" + "0" * 36, False),
        (CALLER + "x", False),
        ("", False),
    ],
)
def test_inbound_id_as_oslo_middleware(value: str, accepted: bool) -> None:
    scope = {"headers": [(b"x-openstack-request-id", value.encode())]}
    assert inbound_id(scope) == (value if accepted else None)
    assert GLOBAL_REQUEST_ID.get() is None


def test_new_ids_are_version_4_uuids() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    for rid in ids:
        assert ID_FORMAT.fullmatch(rid)
        parsed = uuid.UUID(rid[4:])
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
