"""Alcor as a cluster on one machine: N `alcor server` replicas on one PostgreSQL and one NATS,
behind HAProxy (Debian's), which routes by each replica's `/readyz`. The deployment the
README's "Running it as a cluster" describes, started by tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from alcor.lab.server_process import AlcorServer
from alcor.southbound.nats_server import free_port

HAPROXY_CONFIG = """global
  maxconn 2000
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  # a connection refused by a dead replica is retried on another one; a request already
  # sent is never replayed (retry-on stays at connect-failure): no duplicate creates
  retries 2
  option redispatch
frontend api
  bind 127.0.0.1:{port}
  default_backend alcor
backend alcor
  balance roundrobin
  option httpchk GET /readyz
  default-server inter 300ms fall 2 rise 2
{servers}
"""


class LoadBalancer:
    def __init__(self, backends: list[AlcorServer]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="alcor-haproxy-"))
        servers = "\n".join(
            f"  server r{i} 127.0.0.1:{b.port} check" for i, b in enumerate(backends)
        )
        self.config = self.dir / "haproxy.cfg"
        self.config.write_text(HAPROXY_CONFIG.format(port=self.port, servers=servers))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> LoadBalancer:
        log = (self.dir / "haproxy.log").open("ab")
        self.proc = subprocess.Popen(
            ["haproxy", "-db", "-f", str(self.config)], stdout=log, stderr=log
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"haproxy did not listen: {(self.dir / 'haproxy.log').read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Replicas:
    """`count` servers sharing `database_url` and `nats_url`, and their load balancer."""

    def __init__(self, database_url: str, nats_url: str, count: int = 2) -> None:
        self.servers = [
            AlcorServer(database_url=database_url, nats_url=nats_url) for _ in range(count)
        ]
        self.balancer = LoadBalancer(self.servers)

    def start(self) -> Replicas:
        for server in self.servers:
            server.start()
        self.balancer.start()
        return self

    def kill9(self, index: int) -> None:
        """SIGKILL a replica's whole process group, as a crashed machine would vanish."""
        proc = self.servers[index].proc
        assert proc is not None
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        self.servers[index].proc = None

    def stop(self) -> None:
        self.balancer.stop()
        for server in self.servers:
            server.cleanup()
