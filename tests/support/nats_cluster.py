"""A 3-node NATS cluster on loopback for fault tests: `nats-server` from the same wheel the
embedded server uses, each node routed to the others, each killable and restartable alone."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from alcor.southbound.nats_server import MAX_PAYLOAD, binary, free_port


class NatsNode:
    def __init__(self, name: str, directory: Path, port: int, cluster_port: int) -> None:
        self.name = name
        self.port = port
        self.cluster_port = cluster_port
        self.monitor_port = free_port()
        self.config = directory / f"{name}.conf"
        self.log = directory / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def write_config(self, routes: list[int]) -> None:
        route_urls = ", ".join(f'"nats-route://127.0.0.1:{p}"' for p in routes)
        self.config.write_text(
            f"listen: 127.0.0.1:{self.port}\n"
            f"http: 127.0.0.1:{self.monitor_port}\n"
            f"max_payload: {MAX_PAYLOAD}\n"
            f"cluster {{\n  name: alcor-test\n  listen: 127.0.0.1:{self.cluster_port}\n"
            f"  routes: [{route_urls}]\n}}\n"
        )

    def start(self, timeout: float = 10.0) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [binary(), "-c", str(self.config)], stdout=out, stderr=out, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"NATS node {self.name} did not listen: {self.log.read_text()[-2000:]}")

    def clients(self) -> int:
        """Client connections on this node (its monitoring endpoint); 0 when it is down."""
        if self.proc is None:
            return 0
        url = f"http://127.0.0.1:{self.monitor_port}/connz"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(json.loads(resp.read())["num_connections"])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


class NatsCluster:
    """Three routed nodes; `urls` is what a client's comma-separated `nats_url` lists."""

    def __init__(self, size: int = 3) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="alcor-nats-cluster-"))
        self.nodes = [NatsNode(f"n{i}", self.dir, free_port(), free_port()) for i in range(size)]
        for node in self.nodes:
            node.write_config([n.cluster_port for n in self.nodes if n is not node])

    @property
    def urls(self) -> str:
        return ",".join(n.url for n in self.nodes)

    def busiest(self) -> NatsNode:
        """The running node with the most clients (the one whose death matters most)."""
        return max((n for n in self.nodes if n.proc is not None), key=NatsNode.clients)

    def start(self) -> NatsCluster:
        for node in self.nodes:
            node.start()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()
