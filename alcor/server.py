"""Assembling the API process: database, schema check, resources, southbound, HTTP."""

from __future__ import annotations

import gc
import logging
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa
import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from alcor import metrics
from alcor.api.app import Api
from alcor.api.auth import authenticator
from alcor.api.bodies import http_error
from alcor.api.live import LiveEvents
from alcor.api.request_id import LOG_FORMAT, RequestIdMiddleware, install_log_filter
from alcor.config import ServerSettings, configure_logging
from alcor.resources import registry
from alcor.southbound.service import Southbound
from alcor.store import migrate
from alcor.store.db import Database

log = logging.getLogger("alcor.server")


def _restrict(path: Path, allowed: int) -> None:
    """Drop the mode bits of `path` that `allowed` does not have, saying so."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & ~allowed:
        try:
            path.chmod(mode & allowed)
        except PermissionError:
            log.warning("%s is mode %03o, open to other users, and not ours to change", path, mode)
            return
        log.warning("%s was mode %03o, open to other users; now %03o", path, mode, mode & allowed)


def make_private(settings: ServerSettings) -> None:
    """Keep what the server writes to its own user: umask 077 for every file and directory
    created from now on (the SQLite database and its WAL and SHM files, the embedded NATS
    files, the state dir itself), an existing state dir tightened to 0700, an existing SQLite
    database with its WAL and SHM files to 0600; the directory of a SQLite file outside the
    state dir is created if missing."""
    os.umask(0o077)
    state_dir = Path(settings.state_dir)
    if state_dir.is_dir():
        _restrict(state_dir, 0o700)
    url = sa.make_url(settings.effective_database_url())
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(str(url.database))
        path.parent.mkdir(parents=True, exist_ok=True)
        for file in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
            if file.exists():
                _restrict(file, 0o600)


def open_database(settings: ServerSettings) -> Database:
    """Connect, and make sure the schema is at head (auto-upgrading embedded SQLite)."""
    db = Database(settings.effective_database_url())
    embedded = not settings.database_url
    if embedded and settings.auto_migrate and migrate.current(db.engine) != migrate.head():
        migrate.upgrade(db.engine)
    migrate.check(db.engine)
    return db


def build_app(settings: ServerSettings, db: Database, live: LiveEvents) -> Any:
    """The ASGI application, with the southbound and the web view's live events started and
    stopped by its lifespan, inside the request-id and metrics middleware (outermost: they
    see every response, 500s too)."""
    resources = registry.configure(settings)
    southbound = Southbound(db, settings)
    auth = authenticator(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await southbound.start()
        live.start()
        try:
            yield
        finally:
            await live.stop()
            await southbound.stop()
            closing = getattr(auth, "aclose", None)
            if closing is not None:
                await closing()

    api = Api(
        db,
        resources,
        auth=auth,
        max_page_size=settings.max_page_size,
        max_body_size=settings.max_request_body_size,
        max_bulk_body_size=settings.max_bulk_request_body_size,
        max_filter_values=settings.max_filter_values,
        agent_down_time=settings.agent_down_time,
        live=live,
    )

    def compiler_cursor() -> int | None:
        compiler = southbound.compiler
        return compiler.cursor if compiler is not None and compiler.lease.held() else None

    db.on_event(metrics.on_events)
    collector = metrics.ServerCollector(db, settings.agent_down_time, compiler_cursor)
    observed = metrics.MetricsMiddleware(
        api.app(lifespan), api.resources.keys(), metrics.scraper(collector)
    )
    return RequestIdMiddleware(observed)


def http_protocol(max_url_length: int) -> type[HttpToolsProtocol]:
    """uvicorn's HTTP/1.1 protocol, answering what it refuses before the application sees it
    with Neutron error bodies instead of plain text: a URL longer than `max_url_length` bytes
    is a 414 (as Neutron's WSGI server answers past its own limit), a request it cannot parse
    (a path that is not ASCII, a request line that is not HTTP...) a 400."""

    class NeutronHttpProtocol(HttpToolsProtocol):
        url_too_long = False

        def on_url(self, url: bytes) -> None:
            super().on_url(url)
            if len(self.url) > max_url_length:
                self.url_too_long = True
                raise ValueError("URL too long")  # stops the parser: it answers below

        def send_400_response(self, msg: str) -> None:
            if self.url_too_long:
                err = http_error(
                    414,
                    "HTTPRequestURITooLong",
                    f"The request URL is longer than max_url_length ({max_url_length} bytes).",
                )
            else:
                err = http_error(400, "HTTPBadRequest", msg)
            body = msgspec.json.encode(err.body())
            head = [STATUS_LINE[err.code]]
            for name, value in self.server_state.default_headers:
                head += [name, b": ", value, b"\r\n"]
            head.append(
                b"content-type: application/json\r\ncontent-length: %d\r\n"
                b"connection: close\r\n\r\n" % len(body)
            )
            self.transport.write(b"".join(head) + body)
            self.transport.close()

    return NeutronHttpProtocol


class _Server(uvicorn.Server):
    """uvicorn's server, ending the web view's event streams first when it shuts down: it
    waits for open responses, and an event stream never ends by itself."""

    def __init__(self, config: uvicorn.Config, live: LiveEvents) -> None:
        super().__init__(config)
        self.live = live

    async def shutdown(self, sockets: Any = None) -> None:
        self.live.close()
        await super().shutdown(sockets)


def run(settings: ServerSettings) -> None:
    """Serve until interrupted."""
    log_level = configure_logging(settings.log_level, LOG_FORMAT)
    install_log_filter()
    make_private(settings)
    authenticator(settings)  # refuse unsafe settings before anything starts
    db = open_database(settings)
    live = LiveEvents(db)
    app = build_app(settings, db, live)
    host, port = settings.host_port()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http=http_protocol(settings.max_url_length),
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=settings.client_socket_timeout,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    # What is alive after start-up (modules, SQLAlchemy's compiled statements, the
    # declarations) lives as long as the process: move it out of the collector's way, and
    # collect young objects less eagerly, so a bulk request allocating thousands of dicts
    # does not pay for re-scanning them (bulk creates: 8.2k -> 10.1k ports/s measured).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    try:
        _Server(config, live).run()
    finally:
        db.close()
