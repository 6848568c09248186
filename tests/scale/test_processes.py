"""Processes and files of a real `alcor server`: the embedded nats-server dies with its server
(even after `kill -9`), a leftover one is replaced, a port held by anything else is named and
left alone, a second server on the same state dir refuses, a blocked restart backs off, and
what the server writes is private to its user."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from alcor.lab.server_process import AlcorServer
from alcor.southbound.nats_server import NatsServer, binary, exited, free_port
from alcor.southbound.protocol.auth import NatsAuth
from alcor.southbound.sim import Fleet
from tests.scale import conftest as scale
from tests.support.waiting import wait_for

LISTEN = """
import socket, sys, time
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", int(sys.argv[1])))
sock.listen()
print("listening", flush=True)
time.sleep(600)
"""


@contextlib.contextmanager
def foreign_listener(port: int) -> Iterator[subprocess.Popen[str]]:
    """A process that is no nats-server of ours, listening on 127.0.0.1:`port`."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LISTEN, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "listening\n"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def cmdline(pid: int) -> list[str]:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    return []


def nats_children(parent: int) -> list[int]:
    """Live nats-server processes whose parent is `parent`."""
    found = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):
            pid = int(proc.name)
            ppid = int((proc / "stat").read_text().rpartition(")")[2].split()[1])
            if ppid == parent and Path(cmdline(pid)[0]).name == "nats-server" and not exited(pid):
                found.append(pid)
    return found


def kill_if_still(pids: list[int], config: Path) -> None:
    """Clean-up after a failure: SIGKILL those of `pids` still running nats-server on `config`."""
    for pid in pids:
        if cmdline(pid)[1:] == ["-c", str(config)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_kill_9_takes_the_nats_server_along_and_a_leftover_is_replaced() -> None:
    server = AlcorServer()
    config = server.tmp / "nats" / "nats-server.conf"
    children: list[int] = []
    leftover: subprocess.Popen[bytes] | None = None
    try:
        server.start()
        assert server.proc is not None
        pid = server.proc.pid
        children = wait_for(lambda: nats_children(pid), 10, "the embedded nats-server")
        os.kill(pid, signal.SIGKILL)
        server.proc.wait()
        wait_for(lambda: all(map(exited, children)), 10, "the nats-server to die with its server")

        # What a server without the death signal (an older version) leaves behind: a
        # nats-server on our configuration, holding our port and named in our pid file.
        leftover = subprocess.Popen(
            [binary(), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(lambda: Path(f"{config.parent}/nats-server.pid").is_file(), 10, "the leftover")
        server.start()
        assert leftover.wait(10) == -signal.SIGKILL
        assert server.proc is not None
        children = wait_for(lambda: nats_children(server.proc.pid), 10, "the new nats-server")
        log = server.log.read_text()
        assert f"killing leftover embedded nats-server pid {leftover.pid}" in log

        asyncio.run(port_goes_active(server))
        assert "embedded nats-server died" not in server.log.read_text()
    finally:
        kill_if_still(children, config)
        if leftover is not None:
            leftover.kill()
            leftover.wait()
        server.cleanup()


async def port_goes_active(server: AlcorServer) -> None:
    """The server works end to end through its own nats-server: a port bound to a simulated
    host turns ACTIVE."""
    fleet = Fleet(server.nats_url, 1, "proc", auth=NatsAuth(str(server.credentials("proc", True))))
    await fleet.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            net = await http.post("/v2.0/networks", json={"network": {"name": "n"}})
            net_id = net.raise_for_status().json()["network"]["id"]
            subnet = {"network_id": net_id, "cidr": "10.9.0.0/24", "ip_version": 4}
            (await http.post("/v2.0/subnets", json={"subnet": subnet})).raise_for_status()
            port = {"network_id": net_id, "binding:host_id": next(iter(fleet.hosts))}
            created = await http.post("/v2.0/ports", json={"port": port})
            url = f"/v2.0/ports/{created.raise_for_status().json()['port']['id']}"
            async with asyncio.timeout(30):
                while (await http.get(url)).json()["port"]["status"] != "ACTIVE":
                    await asyncio.sleep(0.1)
    finally:
        await fleet.stop()


def test_a_port_held_by_another_process_is_named_and_left_alone() -> None:
    server = AlcorServer()
    try:
        with foreign_listener(server.nats_port) as holder:
            with pytest.raises(RuntimeError) as failed:
                server.start()
            assert holder.poll() is None
            assert f"is held by pid {holder.pid} ({sys.executable} -c" in str(failed.value)
    finally:
        server.cleanup()


def test_a_second_server_on_the_same_state_dir_refuses_and_kills_nothing() -> None:
    first = AlcorServer()
    second = AlcorServer(extra_env={"ALCOR_STATE_DIR": str(first.tmp)})
    try:
        first.start()
        assert first.proc is not None
        (child,) = nats_children(first.proc.pid)
        with pytest.raises(RuntimeError) as failed:
            second.start()
        assert f"is in use by another alcor server (pid {first.proc.pid})" in str(failed.value)
        assert nats_children(first.proc.pid) == [child]
        assert httpx.get(f"{first.url}/v2.0/networks", timeout=30).status_code == 200
    finally:
        second.cleanup()
        first.cleanup()


def test_a_blocked_restart_names_the_holder_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "alcor.southbound.nats_server")

    async def main() -> None:
        nats = NatsServer(free_port(), tmp_path)
        await nats.astart()
        supervisor = None
        try:
            nats.kill()
            with foreign_listener(nats.port) as holder:
                supervisor = asyncio.create_task(nats.supervise(interval=0.05, max_delay=0.5))
                await scale.wait_for(
                    lambda: f"is held by pid {holder.pid}" in caplog.text,
                    timeout=10,
                    what="the failed restart naming the holder",
                )
            await scale.wait_for(nats.alive, timeout=10, what="the restart once the port is free")
            assert nats.restarts == 1
            assert caplog.text.count("embedded nats-server died") == 1
        finally:
            if supervisor is not None:
                supervisor.cancel()
                await asyncio.gather(supervisor, return_exceptions=True)
            nats.close()

    asyncio.run(main())


def test_state_dir_and_database_are_private_to_the_server_user() -> None:
    server = AlcorServer()
    db = server.tmp / "alcor.db"
    try:
        server.tmp.chmod(0o755)
        server.start()
        assert mode(server.tmp) == 0o700
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            assert mode(path) == 0o600, path
        assert mode(server.tmp / "nats") == 0o700
        nats_files = list((server.tmp / "nats").iterdir())
        assert {p.name for p in nats_files} >= {"nats-server.conf", "nats-server.pid"}
        assert {p.name: mode(p) for p in nats_files} == dict.fromkeys(
            (p.name for p in nats_files), 0o600
        )

        server.stop()
        db.chmod(0o644)
        server.start()
        assert mode(db) == 0o600
        log = server.log.read_text()
        assert f"{server.tmp} was mode 755, open to other users; now 700" in log
        assert f"{db} was mode 644, open to other users; now 600" in log
    finally:
        server.cleanup()
