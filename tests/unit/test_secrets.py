"""No secret in what `alcor` prints: the database password, NATS credentials and the Nova
token stay out of error messages and logs, on real processes with all of them configured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import sqlalchemy as sa

from alcor.lab.server_process import AlcorServer, free_port
from alcor.southbound.nats_server import running
from alcor.store import migrate
from tests.support.waiting import wait_for

DB_PASSWORD = "db-Sekrit-51c3"
NATS_PASSWORD = "nats-Sekrit-9e07"
NOVA_TOKEN = "nova-Sekrit-d2a8"
SECRETS = (DB_PASSWORD, NATS_PASSWORD, NOVA_TOKEN)


def with_password(url: str) -> str:
    """`url` with DB_PASSWORD (the test PostgreSQL trusts loopback: any password will do)."""
    return sa.make_url(url).set(password=DB_PASSWORD).render_as_string(hide_password=False)


def alcor(*args: str, env: dict[str, str]) -> str:
    """Run an `alcor` command; its stdout and stderr together."""
    proc = subprocess.run(
        [sys.executable, "-m", "alcor", *args], capture_output=True, text=True, timeout=120, env=env
    )
    return f"exit {proc.returncode}\n{proc.stdout}{proc.stderr}"


def test_outdated_schema_hint_masks_the_password(pg_url: str, tmp_path: Path) -> None:
    url = with_password(pg_url)
    env = {
        **os.environ,
        "ALCOR_CONFIG": "/nonexistent",
        "ALCOR_STATE_DIR": str(tmp_path),
        "ALCOR_NATS_PORT": str(free_port()),
    }
    upgraded = alcor("db", "upgrade", "--revision", "0001", env={**env, "ALCOR_DATABASE_URL": url})
    assert upgraded.startswith("exit 0\n"), upgraded
    refused = alcor(
        "server",
        *("--bind", f"127.0.0.1:{free_port()}", "--database-url", url, "--log-level", "debug"),
        env=env,
    )
    current = alcor("db", "current", env={**env, "ALCOR_DATABASE_URL": url})
    for output in (upgraded, refused, current):
        assert DB_PASSWORD not in output
    assert refused.startswith("exit 2\n"), refused
    masked = sa.make_url(url).render_as_string(hide_password=True)
    assert "***" in masked
    assert (
        f"The database is at revision 0001, the code needs revision {migrate.head()}. "
        f"Run: alcor db upgrade --database-url '{masked}' (with the password for ***)"
    ) in refused
    assert "a password in --database-url is visible to every local user" in refused


def test_a_running_server_logs_no_secret(pg_url: str) -> None:
    """Debug logging, a failing Nova endpoint, NATS with user and password: none of the
    secrets shows up in the server's output."""
    nova = f"http://127.0.0.1:{free_port()}/v2.1"  # nothing listens: every POST fails
    with (
        running() as nats,
        AlcorServer(
            database_url=with_password(pg_url),
            nats_url=f"nats://alcor:{NATS_PASSWORD}@127.0.0.1:{nats.port}",
            extra_env={
                "ALCOR_LOG_LEVEL": "debug",
                "ALCOR_NOVA_URL": nova,
                "ALCOR_NOVA_TOKEN": NOVA_TOKEN,
                "ALCOR_NOVA_SEND_INTERVAL": "0.1",
            },
        ) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        net = http.post("/v2.0/networks", json={"network": {"name": "n"}})
        port = {"network_id": net.json()["network"]["id"], "device_owner": "compute:nova"}
        port["device_id"] = "0d6a6b3e-7a3c-4c55-9d54-1f1c1a0e2b7d"
        created = http.post("/v2.0/ports", json={"port": port}).json()["port"]
        assert http.delete(f"/v2.0/ports/{created['id']}").status_code == 204
        wait_for(
            lambda: "Nova notification of 1 events failed" in server.log.read_text(),
            timeout=30,
            what="the failed Nova notification in the log",
        )
        output = server.log.read_text()
    for secret in SECRETS:
        assert secret not in output
    assert "a password in --nats-url is visible to every local user" in output
