"""The Keystone client's HTTP (alcor/api/keystone_http.py) against small real servers on
loopback: answers framed by Content-Length or chunked, connections kept alive and reused,
a kept connection that the server closed while idle, and no server at all."""

from __future__ import annotations

import asyncio
import json

import pytest

from alcor.api.keystone_http import KeystoneHTTP, KeystoneUnreachable
from alcor.lab.server_process import free_port

pytestmark = pytest.mark.timeout(30)


class Server:
    """An HTTP/1.1 server answering every request with `answer(n)` (n counts requests over
    all connections); closes a connection after one answer when `close_after_one`."""

    def __init__(self, answer: bytes | None = None, close_after_one: bool = False) -> None:
        self.answer = answer
        self.close_after_one = close_after_one
        self.requests: list[bytes] = []
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break  # the client closed its end
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = await reader.readexactly(length) if length else b""
            self.requests.append(head + body)
            writer.write(self.answer or _json_answer({"n": len(self.requests)}))
            await writer.drain()
            if self.close_after_one:
                break
        writer.close()

    async def __aenter__(self) -> str:
        port = free_port()
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", port)
        return f"http://127.0.0.1:{port}/v3"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


def _json_answer(body: object) -> bytes:
    data = json.dumps(body).encode()
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Subject-Token: t\r\n\r\n%s" % (
        len(data),
        data,
    )


def test_keeps_the_connection_and_sends_json() -> None:
    asyncio.run(_keeps_the_connection_and_sends_json())


async def _keeps_the_connection_and_sends_json() -> None:
    server = Server()
    async with server as url:
        client = KeystoneHTTP(url, 5)
        first = await client.request("POST", "/auth/tokens", {"X-A": "1"}, {"auth": {}})
        second = await client.request("GET", "/auth/tokens?nocatalog", {})
        await client.aclose()
    assert (first.status, first.json(), first.headers["x-subject-token"]) == (200, {"n": 1}, "t")
    assert second.json() == {"n": 2}
    assert server.connections == 1
    post = server.requests[0]
    assert post.startswith(b"POST /v3/auth/tokens HTTP/1.1\r\n")
    assert b"X-A: 1\r\n" in post and b"Content-Type: application/json\r\n" in post
    assert post.endswith(b'\r\n\r\n{"auth": {}}')
    assert server.requests[1].startswith(b"GET /v3/auth/tokens?nocatalog HTTP/1.1\r\n")


def test_chunked_answer() -> None:
    asyncio.run(_chunked_answer())


async def _chunked_answer() -> None:
    answer = (
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"a":\r\n2\r\n1}\r\n0\r\n\r\n'
    )
    async with Server(answer) as url:
        client = KeystoneHTTP(url, 5)
        resp = await client.request("GET", "/auth/tokens", {})
        await client.aclose()
    assert (resp.status, resp.json()) == (404, {"a": 1})


def test_a_connection_closed_while_idle_is_replaced() -> None:
    asyncio.run(_a_connection_closed_while_idle_is_replaced())


async def _a_connection_closed_while_idle_is_replaced() -> None:
    server = Server(close_after_one=True)
    async with server as url:
        client = KeystoneHTTP(url, 5)
        assert (await client.request("GET", "/", {})).json() == {"n": 1}
        await asyncio.sleep(0.1)  # the server has closed the kept connection by now
        assert (await client.request("GET", "/", {})).json() == {"n": 2}
        await client.aclose()
    assert server.connections == 2


def test_no_server_is_unreachable() -> None:
    asyncio.run(_no_server_is_unreachable())


async def _no_server_is_unreachable() -> None:
    client = KeystoneHTTP(f"http://127.0.0.1:{free_port()}/v3", 5)
    with pytest.raises(KeystoneUnreachable):
        await client.request("GET", "/auth/tokens", {})
