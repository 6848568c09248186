"""Request ids, as oslo.middleware's `request_id` gives every OpenStack API.

Every HTTP response carries `X-Openstack-Request-Id: req-<uuid4>`, a fresh id for this request
(errors, 404s and 500s included: this wraps the whole application). As in oslo.middleware, an
inbound `X-Openstack-Request-Id` that is well formed (`req-` + a lowercase uuid) is the
caller's *global* request id (Nova sends its own on every call): it never replaces ours, is
kept for the request's log lines, and anything else in that header is ignored.

The local id is in `alcor.store.db.REQUEST_ID` while the request runs: the unit of work writes
it on its change-log rows, the compiler carries it to the port's host in `PortState.request_id`,
the host echoes it in its report, and `GET /v2.0/ports/{id}/provisioning` shows both. Log lines
written while a request runs name it (`RequestIdLogFilter`).
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
from typing import Any

from alcor.store import entropy
from alcor.store.db import REQUEST_ID, REQUEST_STARTED

HEADER = b"x-openstack-request-id"
ID_FORMAT = re.compile(r"req-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}")

# The caller's id from a well-formed inbound header (oslo's `openstack.global_request_id`).
GLOBAL_REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "alcor_global_request_id", default=None
)

Scope = dict[str, Any]
Receive = Any
Send = Any


def new_request_id() -> str:
    """`req-` + a random (version 4) uuid (`entropy.uuid4`: no system call per request)."""
    return f"req-{entropy.uuid4()}"


def inbound_id(scope: Scope) -> str | None:
    """The caller's `X-Openstack-Request-Id` if it is well formed, else None."""
    for name, value in scope["headers"]:
        if name == HEADER:
            text = value.decode("latin-1")
            return text if ID_FORMAT.fullmatch(text) else None
    return None


class RequestIdMiddleware:
    """Pure ASGI (no per-request Request object): a request id per HTTP request, set in the
    context variables for the handler and put on the response's headers."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        header = (HEADER, request_id.encode())
        token = REQUEST_ID.set(request_id)
        started = REQUEST_STARTED.set(time.time())
        global_token = GLOBAL_REQUEST_ID.set(inbound_id(scope))

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
            REQUEST_STARTED.reset(started)
            GLOBAL_REQUEST_ID.reset(global_token)


class RequestIdLogFilter(logging.Filter):
    """Adds `%(request)s` to every record: ` [req-...]`, ` [req-... global=req-...]` for a
    request with a caller's id, or "" outside requests. Install it on handlers."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        if request_id is None:
            record.request = ""
        else:
            caller = GLOBAL_REQUEST_ID.get()
            record.request = f" [{request_id} global={caller}]" if caller else f" [{request_id}]"
        return True


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s%(request)s: %(message)s"


def install_log_filter(logger: logging.Logger | None = None) -> None:
    """Put `RequestIdLogFilter` on every handler of `logger` (the root logger by default)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RequestIdLogFilter) for f in handler.filters):
            handler.addFilter(RequestIdLogFilter())
