"""Run a real `alcor server` process (for `alcor demo`, tests and benchmarks).

The server is a separate OS process started the way an operator starts it (same command,
flags and environment), so whatever drives it exercises the real HTTP stack, the real
database and the embedded NATS exactly as deployed. Nothing here imports the server side.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A free TCP port on 127.0.0.1 below the ephemeral range."""
    import random

    for _ in range(200):
        port = random.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found")


def lift_quotas(url: str, project: str = "admin") -> None:
    """Make every quota of `project` unlimited through the API, as an operator would before
    loading a server with more than Neutron's default 500 ports (benchmarks, scale tests)."""
    import json

    with urllib.request.urlopen(f"{url}/v2.0/quotas/{project}/default", timeout=30) as resp:
        keys = json.loads(resp.read())["quota"]
    body = json.dumps({"quota": dict.fromkeys(keys, -1)}).encode()
    req = urllib.request.Request(
        f"{url}/v2.0/quotas/{project}",
        data=body,
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req, timeout=30).read()


class AlcorServer:
    """`alcor server` on a free port; `database_url` None = embedded SQLite in a temp dir."""

    def __init__(
        self,
        database_url: str | None = None,
        nats_url: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="alcor-server-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url or f"sqlite:///{self.tmp / 'alcor.db'}"
        self.nats_port = free_port()
        self.nats_url = nats_url or f"nats://127.0.0.1:{self.nats_port}"
        self.env = {
            **os.environ,
            "ALCOR_STATE_DIR": str(self.tmp),
            "ALCOR_NATS_PORT": str(self.nats_port),
            "ALCOR_CONFIG": "/nonexistent",
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.tmp / "server.log"

    def start(self, timeout: float = 30.0) -> AlcorServer:
        if self.database_url.startswith("postgresql"):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "alcor",
                    "db",
                    "upgrade",
                    "--database-url",
                    self.database_url,
                ],
                check=True,
                env=self.env,
                capture_output=True,
            )
        args = [sys.executable, "-m", "alcor", "server", "--bind", f"127.0.0.1:{self.port}"]
        if self.database_url.startswith("postgresql"):
            args += ["--database-url", self.database_url]
        if self.nats_url and not self.nats_url.endswith(f":{self.nats_port}"):
            args += ["--nats-url", self.nats_url]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                args, env=self.env, stdout=out, stderr=out, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"alcor server exited: {self.log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(self.url + "/", timeout=1).read()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"alcor server did not come up: {self.log.read_text()[-3000:]}")

    def credentials(self, host: str, fleet: bool = False) -> Path:
        """Southbound credentials for `host` (or a simulator fleet), issued as an operator
        does, with `alcor hosts add` on the server's state dir; returns the seed file."""
        out_dir = self.tmp / "credentials"
        args = [sys.executable, "-m", "alcor", "hosts", "add", host, "--out-dir", str(out_dir)]
        subprocess.run(
            [*args, "--fleet"] if fleet else args, env=self.env, check=True, capture_output=True
        )
        return out_dir / f"{host}.nk"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def cleanup(self) -> None:
        """Stop the server and remove its state dir (`stop()` alone keeps it for a restart)."""
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> AlcorServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.cleanup()
