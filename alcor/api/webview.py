"""The web view: a plain HTML+JS page served from the package (`/ui`, no build step) and the
event stream it follows (`GET /v2.0/alcor/events`, server-sent events from `live`).

The page holds no data of its own: it calls the Neutron API and the Alcor additions
(provisioning trace, reachability) like any client, with the same headers, so it sees what
its caller may see through the same request context (`auth.context`). The event stream is
for admins, as the provisioning timeline is. The page reads it with `fetch` rather than
`EventSource`, so that it can send those headers (EventSource cannot send any).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from alcor import errors
from alcor.api.live import LiveEvents
from alcor.resources.context import Authenticator

STATIC = resources.files("alcor.api") / "ui"
TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
KEEPALIVE = 15.0  # seconds between comments on an idle stream (proxies drop silent ones)


def _static(name: str) -> Response:
    suffix = "." + name.rpartition(".")[2]
    if "/" in name or suffix not in TYPES or not (STATIC / name).is_file():
        raise errors.NotFound("The resource could not be found.")
    body = (STATIC / name).read_bytes()
    return Response(body, media_type=TYPES[suffix], headers={"cache-control": "no-cache"})


def _frame(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class WebView:
    def __init__(self, auth: Authenticator, live: LiveEvents) -> None:
        self.auth = auth
        self.live = live

    async def root(self, request: Request) -> Response:
        return RedirectResponse("/ui/", status_code=307)

    async def page(self, request: Request) -> Response:
        return _static(request.path_params.get("name") or "index.html")

    async def events(self, request: Request) -> Response:
        """Server-sent events: `hello` first, then `change` (a change-log row) and `port`
        (a port's status changed) as they happen; ends on `overflow` or shutdown."""
        ctx = await self.auth.context(request.headers)
        ctx.policy.enforce(ctx, "get_alcor_events", {})
        queue = self.live.subscribe()

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield _frame("hello", {"retry_ms": 1000})
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), KEEPALIVE)
                    except TimeoutError:
                        yield b": keepalive\n\n"
                        continue
                    if event is None:
                        return
                    yield _frame(*event)
            finally:
                self.live.unsubscribe(queue)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    def routes(self) -> list[Route]:
        return [
            Route("/ui", self.root, methods=["GET"]),
            Route("/ui/", self.page, methods=["GET"]),
            Route("/ui/{name}", self.page, methods=["GET"]),
            Route("/v2.0/alcor/events", self.events, methods=["GET"]),
        ]
