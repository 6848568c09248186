"""A throwaway PostgreSQL server for tests: `initdb` + `pg_ctl` in a temporary directory.

Why a real server rather than a mock or SQLite-only tests: the properties that matter for the
scale-out deployment (row locks, `SKIP LOCKED`, several transactions at once, unique
violations between concurrent writers) only exist on a real PostgreSQL. Starting one takes
about a second with `fsync=off`, so every test session can have its own, isolated from any
system cluster and from other sessions running in parallel (each picks its own port and
directory).

Safety properties:
- listens on 127.0.0.1 only, on a free port below 32768 (above is the kernel's ephemeral
  range, where a port that is free now may be taken by an outgoing connection a moment
  later); unix sockets live in the temporary directory, never in /var/run/postgresql;
- `initdb` refuses to run as root, so when we are root the server runs as the `postgres`
  system user (created with `useradd --system` if missing) and the directory is chowned;
- the server is stopped and the directory removed on `stop()`, on leaving the context
  manager (also after an exception) and, as a last resort, at interpreter exit (`atexit`).

Usage::

    with PostgresServer() as server:
        url = server.create_database("test_x")   # postgresql+psycopg://postgres@127.0.0.1:P/test_x
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SEARCH_GLOB = "/usr/lib/postgresql/*/bin"
SUPERUSER = "postgres"


def find_bin_dir() -> Path | None:
    """The newest PostgreSQL bin directory with `initdb` and `pg_ctl`, or None.

    `ALCOR_PG_BIN` overrides the search; otherwise Debian's versioned directories are tried
    (newest major first), then `$PATH`.
    """
    override = os.environ.get("ALCOR_PG_BIN")
    candidates: list[Path] = [Path(override)] if override else []

    def major(path: str) -> int:
        m = re.search(r"/postgresql/(\d+)/bin", path)
        return int(m.group(1)) if m else 0

    candidates += [Path(p) for p in sorted(glob.glob(SEARCH_GLOB), key=major, reverse=True)]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for cand in candidates:
        if (cand / "initdb").is_file() and (cand / "pg_ctl").is_file():
            return cand
    return None


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_port() -> int:
    """A random currently-free TCP port in [20000, 32767] on 127.0.0.1."""
    for _ in range(200):
        port = random.randint(20000, 32767)
        if _port_is_free(port):
            return port
    raise RuntimeError("no free TCP port below 32768 on 127.0.0.1")


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(name)


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory; see the module docstring."""

    def __init__(
        self,
        bin_dir: Path | None = None,
        max_connections: int = 200,
        settings: dict[str, str] | None = None,
    ) -> None:
        """`settings`: postgresql.conf values over the throwaway defaults (a benchmark
        loads `pg_stat_statements` or turns `synchronous_commit` back on)."""
        found = bin_dir or find_bin_dir()
        if found is None:
            raise FileNotFoundError(f"no PostgreSQL binaries found ({SEARCH_GLOB} or $PATH)")
        self.bin_dir = found
        self.max_connections = max_connections
        self.settings = settings or {}
        self.port = 0
        self.dir: Path | None = None
        self._run_as: pwd.struct_passwd | None = None
        self._started = False
        self._db_counter = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> PostgresServer:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        return self

    def _start(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="alcor-pg-"))
        if os.geteuid() == 0:
            self._run_as = _ensure_system_user(SUPERUSER)
            os.chown(self.dir, self._run_as.pw_uid, self._run_as.pw_gid)
        data = self.dir / "data"
        self._run(
            [
                str(self.bin_dir / "initdb"),
                "-D", str(data),
                "-U", SUPERUSER,
                "--auth=trust",
                "-E", "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )  # fmt: skip
        # Port races (another process binding the same port between our check and the
        # server's bind) are retried with a new port a few times.
        last_error: Exception | None = None
        for _ in range(5):
            self.port = _pick_port()
            self._write_config(data)
            try:
                self._run(
                    [
                        str(self.bin_dir / "pg_ctl"),
                        "-D", str(data),
                        "-l", str(self.dir / "server.log"),
                        "-w", "-t", "60",
                        "start",
                    ]
                )  # fmt: skip
            except subprocess.CalledProcessError as exc:
                last_error = exc
                continue
            self._started = True
            return
        log = (self.dir / "server.log").read_text(errors="replace")[-4000:]
        raise RuntimeError(f"PostgreSQL did not start: {last_error}\n{log}")

    def _write_config(self, data: Path) -> None:
        assert self.dir is not None
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.dir}'",
            "max_connections": str(self.max_connections),
            "shared_buffers": "'64MB'",
            # Durability is worthless for a throwaway cluster; speed is not.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "wal_level": "minimal",
            "max_wal_senders": "0",
            "logging_collector": "off",
            "log_min_messages": "warning",
            **self.settings,
        }
        conf = data / "postgresql.auto.conf"
        conf.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        if self._run_as is not None:
            os.chown(conf, self._run_as.pw_uid, self._run_as.pw_gid)

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[bytes]:
        kwargs: dict[str, Any] = {"check": True, "capture_output": True, "cwd": self.dir}
        if self._run_as is not None:
            kwargs["user"] = self._run_as.pw_uid
            kwargs["group"] = self._run_as.pw_gid
            kwargs["extra_groups"] = []
            kwargs["env"] = {**os.environ, "HOME": str(self.dir), "USER": SUPERUSER}
        try:
            return subprocess.run(argv, **kwargs)
        except subprocess.CalledProcessError as exc:
            exc.add_note((exc.stderr or b"").decode(errors="replace")[-2000:])
            raise

    def stop(self) -> None:
        """Stop the server (fast, no checkpoint needed) and remove the directory. Idempotent."""
        if self.dir is None:
            return
        data = self.dir / "data"
        if self._started:
            try:
                self._run([str(self.bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                           "-w", "-t", "30", "stop"])  # fmt: skip
            except (subprocess.CalledProcessError, OSError):
                self._kill_postmaster(data)
            self._started = False
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def restart(self, down_s: float) -> None:
        """Stop the server as an operator's restart does (fast: every client connection is
        terminated, open transactions roll back, what committed is flushed: this cluster runs
        with synchronous_commit off, so a crash would lose acknowledged commits), keep it
        down for `down_s` seconds, start it again on the same port and data (fault tests)."""
        assert self.dir is not None and self._started
        ctl = [str(self.bin_dir / "pg_ctl"), "-D", str(self.dir / "data"), "-w", "-t", "60"]
        self._run([*ctl, "-m", "fast", "stop"])
        time.sleep(down_s)
        self._run([*ctl, "-l", str(self.dir / "server.log"), "start"])

    @staticmethod
    def _kill_postmaster(data: Path) -> None:
        """Last resort when pg_ctl fails: SIGKILL the postmaster recorded in its pid file."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((data / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def postmaster_pid(self) -> int:
        """The server's main process (its backends are its children)."""
        assert self.dir is not None
        return int((self.dir / "data" / "postmaster.pid").read_text().splitlines()[0])

    # -- databases ---------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3 driver) for `database` on this server."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _admin_execute(self, sql: str) -> None:
        import psycopg

        conninfo = f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def unique_name(self, stem: str = "t") -> str:
        """A database name not used before on this server: "<stem>_<n>", safe for SQL."""
        self._db_counter += 1
        clean = re.sub(r"[^a-z0-9_]", "_", stem.lower())[:40] or "t"
        if not re.match(r"[a-z_]", clean):
            clean = f"t{clean}"
        return f"{clean}_{self._db_counter}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a unique name if None) and return its URL."""
        if name is None:
            name = self.unique_name()
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"unsafe database name {name!r}")
        self._admin_execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting anyone still connected to it."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"unsafe database name {name!r}")
        self._admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def postgres_server(**kwargs: Any) -> Iterator[PostgresServer]:
    """Context manager form: a started server, always stopped and removed afterwards."""
    server = PostgresServer(**kwargs)
    with server:
        yield server
