"""A minimal keep-alive HTTP/1.1 load generator on asyncio (uvloop), for benchmarks.

General-purpose clients (httpx, requests) spend more CPU per request than the server under
test on a 2-core machine, so they would measure themselves. This one writes a prepared
request and reads one response (Content-Length framed), which costs a few microseconds.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(q / 100 * len(data)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        assert self.reader and self.writer
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{extra}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        data = await self.reader.readexactly(length) if length else b""
        return status, data

    def close(self) -> None:
        if self.writer:
            self.writer.close()


async def run_load(
    url: str,
    make_request: Callable[[int], tuple[str, str, bytes]],
    total: int,
    concurrency: int,
    ok: tuple[int, ...] = (200, 201, 204),
) -> LoadResult:
    """Send `total` requests (request i = make_request(i)) over `concurrency` connections."""
    parts = urlsplit(url)
    conns = [
        Connection(parts.hostname or "127.0.0.1", parts.port or 80) for _ in range(concurrency)
    ]
    await asyncio.gather(*(c.open() for c in conns))
    counter = iter(range(total))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0

    async def worker(conn: Connection) -> None:
        nonlocal errors
        for i in counter:
            method, path, body = make_request(i)
            t0 = time.perf_counter()
            status, _ = await conn.request(method, path, body)
            latencies.append((time.perf_counter() - t0) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
            if status not in ok:
                errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    seconds = time.perf_counter() - t0
    for c in conns:
        c.close()
    return LoadResult(total, errors, seconds, latencies, statuses)
