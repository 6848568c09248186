"""The HTTP client the Keystone authenticator talks to Keystone with.

Why not httpx: the first sight of a token waits for one `GET /v3/auth/tokens`, and httpx
spent ~3 ms of the server's CPU per such request on this machine (its transport, h11 and
anyio layers), against ~0.4 ms for asyncio streams with the httptools parser that uvicorn
already brings. Those milliseconds are the event loop's, so every other request waits for
them too. The calls are few and plain (a GET and a POST, JSON bodies, Content-Length or
chunked answers), which is all this handles: HTTP/1.1 over TCP or TLS, connections kept
alive in a small pool when Keystone keeps them (a server that closes after each answer
costs a connect per call), and one retry on a fresh connection when a pooled one was closed
by Keystone while idle.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httptools

POOL_SIZE = 8  # idle connections kept; more concurrent calls open more and close them after


class KeystoneUnreachable(OSError):
    """No answer from Keystone (refused, reset, timed out, not HTTP)."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Reader:
    """httptools' callbacks: one response's parts."""

    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    done: bool = False
    keep_alive: bool = False
    parser: Any = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.done = True
        # Only now: the parser forgets it once the message is over.
        self.keep_alive = self.parser.should_keep_alive()


class _Stale(Exception):
    """A pooled connection that Keystone had closed: nothing was answered, try a new one."""


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class KeystoneHTTP:
    def __init__(self, base_url: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        self.tls = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.tls else 80)
        self.base_path = parts.path.rstrip("/")
        self.host_header = parts.netloc
        self.timeout = timeout
        self.ssl = ssl.create_default_context() if self.tls else None
        self.idle: list[Conn] = []

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> Response:
        """`method` `path` (under the base URL's path) with `headers` and a JSON `body`."""
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [
            f"{method} {self.base_path}{path} HTTP/1.1",
            f"Host: {self.host_header}",
            "Accept: application/json",
            f"Content-Length: {len(payload)}",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        if body is not None:
            lines.append("Content-Type: application/json")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload
        try:
            async with asyncio.timeout(self.timeout):
                while self.idle:
                    try:
                        return await self._exchange(self.idle.pop(), data, reused=True)
                    except _Stale:
                        continue
                return await self._exchange(await self._connect(), data, reused=False)
        except (OSError, TimeoutError, httptools.HttpParserError, _Stale) as exc:
            raise KeystoneUnreachable(f"{self.host}:{self.port}: {exc!r}") from None

    async def _connect(self) -> Conn:
        return await asyncio.open_connection(self.host, self.port, ssl=self.ssl)

    async def _exchange(self, conn: Conn, data: bytes, reused: bool) -> Response:
        reader, writer = conn
        got = _Reader()
        parser = got.parser = httptools.HttpResponseParser(got)
        answered = False
        try:
            writer.write(data)
            await writer.drain()
            while not got.done:
                chunk = await reader.read(65536)
                if not chunk:
                    if reused and not answered:
                        raise _Stale()
                    raise KeystoneUnreachable("connection closed before the answer ended")
                answered = True
                parser.feed_data(chunk)
        except BaseException:
            writer.close()
            raise
        if got.keep_alive and len(self.idle) < POOL_SIZE:
            self.idle.append(conn)
        else:
            writer.close()
        return Response(parser.get_status_code(), got.headers, b"".join(got.chunks))

    async def aclose(self) -> None:
        while self.idle:
            _, writer = self.idle.pop()
            writer.close()
