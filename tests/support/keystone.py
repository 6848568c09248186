"""A real Keystone for the test suite: SQLite, fernet tokens, one gunicorn worker, loopback.

The worker is gunicorn's `gthread` with one thread: one request at a time as with the `sync`
worker, but connections are kept alive, as a deployment's web server in front of Keystone
does, so the API server's validations do not each pay a new connection.

It runs from its own virtualenv (keystone pins what it needs; `scripts/setup.sh` makes it in
`.venv-keystone` with `scripts/tempest-constraints.txt`; `ALCOR_KEYSTONE_VENV` points
elsewhere). The first start ever bootstraps a database (`keystone-manage`, 10-60 s with the
machine's load) and keeps it with its keys as a template beside the venv; later starts copy
the template and take a few seconds. It is then provisioned over its REST API with what the
authorization tests need: projects `demo` and `demo2`; users `member1` (member@demo),
`member2` (member@demo2), `reader1` (reader@demo), `manager1` (manager@demo), `nova`
(service@service: Nova's binding calls), `neutron` (service@service: the user our server
validates tokens with), and bootstrap's `admin`.

What bit people running Keystone here (../shared/reference/keystone/README.md): keystone parses
gunicorn's argv (the shim empties it), never `[cache] enabled = false`, one worker with the
memory cache (or revocations leak between workers), bcrypt cost 4, `admin_project_name` set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from alcor.lab.server_process import free_port

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "secret-pass"
ROLES_BY_USER = {
    "member1": ("demo", "member"),
    "member2": ("demo2", "member"),
    "reader1": ("demo", "reader"),
    "manager1": ("demo", "manager"),
    "nova": ("service", "service"),
    "neutron": ("service", "service"),
}

TEMPLATE_FILES = ("keystone.db", "fernet-keys", "credential-keys")

CONF = """\
[DEFAULT]
log_file = {root}/keystone.log
use_stderr = false
[database]
connection = sqlite:///{root}/keystone.db
[token]
provider = fernet
expiration = {expiration}
[fernet_tokens]
key_repository = {root}/fernet-keys/
[fernet_receipts]
key_repository = {root}/fernet-keys/
[credential]
key_repository = {root}/credential-keys/
[identity]
password_hash_rounds = 4
max_password_length = 72
[resource]
admin_project_name = admin
admin_project_domain_name = Default
[cache]
enabled = true
backend = dogpile.cache.memory
"""

SHIM = """\
import os
import sys
sys.argv = sys.argv[:1]
os.environ.setdefault("OS_KEYSTONE_CONFIG_DIR", {etc!r})
from keystone.wsgi.api import application  # noqa: E402,F401
"""


def configure(root: Path, expiration: int = 3600) -> Path:
    """Write `root/etc/keystone.conf` and the WSGI shim `root/keystone_wsgi.py` (also what
    scripts/tempest.sh runs Keystone with); returns the config directory."""
    etc = root / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "keystone.conf").write_text(CONF.format(root=root, expiration=expiration))
    (root / "keystone_wsgi.py").write_text(SHIM.format(etc=str(etc)))
    return etc


def venv() -> Path:
    return Path(os.environ.get("ALCOR_KEYSTONE_VENV", REPO / ".venv-keystone"))


def available() -> bool:
    return (venv() / "bin" / "keystone-manage").exists()


@dataclass
class Keystone:
    """A running Keystone; `projects` and `users` map names to ids."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="alcor-keystone-")))
    port: int = field(default_factory=free_port)
    projects: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    expiration: int = 3600  # seconds a token lives (tests of expiry make it short)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v3"

    def start(self) -> Keystone:
        etc = configure(self.root, self.expiration)
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        template = venv() / "alcor-template"
        if not template.exists():
            self._bootstrap(etc, env, template)
        for name in TEMPLATE_FILES:
            if (template / name).is_dir():
                shutil.copytree(template / name, self.root / name)
            else:
                shutil.copy(template / name, self.root / name)
        log = open(self.root / "gunicorn.log", "wb")  # noqa: SIM115 (closed with the process)
        self.proc = subprocess.Popen(
            [
                str(venv() / "bin" / "gunicorn"),
                "--no-control-socket",
                "--workers",
                "1",
                "--worker-class",
                "gthread",  # keeps connections alive (sync closes after each answer)
                "--threads",
                "1",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--chdir",
                str(self.root),
                "keystone_wsgi:application",
            ],
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            self._wait()
            self._provision()
        except BaseException:
            self.stop()  # nothing is left running when the start fails half-way
            raise
        return self

    def _bootstrap(self, etc: Path, env: dict[str, str], template: Path) -> None:
        """A fresh database and keys (slow: each `keystone-manage` run imports keystone),
        kept as the template of every later start."""
        manage = [
            str(venv() / "bin" / "keystone-manage"),
            "--config-file",
            str(etc / "keystone.conf"),
        ]
        owner = ["--keystone-user", "root", "--keystone-group", "root"]
        for step in (
            ["db_sync"],
            ["fernet_setup", *owner],
            ["credential_setup", *owner],
            [
                "bootstrap",
                "--bootstrap-password",
                PASSWORD,
                "--bootstrap-region-id",
                "RegionOne",
                "--bootstrap-public-url",
                "http://127.0.0.1:1/v3/",
            ],
        ):
            subprocess.run([*manage, *step], env=env, check=True, capture_output=True)
        staging = Path(tempfile.mkdtemp(prefix="template-", dir=template.parent))
        for name in TEMPLATE_FILES:
            shutil.move(str(self.root / name), staging / name)
        os.replace(staging, template)  # atomic: a concurrent session sees all or nothing

    def _wait(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"keystone did not start; see {self.root}")

    def token(self, user: str, project: str | None = None, *, system: bool = False) -> str:
        """A password-auth token of `user`, scoped to its project (or `project`, or the
        system)."""
        scope: dict[str, Any]
        if system:
            scope = {"system": {"all": True}}
        else:
            name = project or ("admin" if user == "admin" else ROLES_BY_USER[user][0])
            scope = {"project": {"name": name, "domain": {"id": "default"}}}
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": user, "password": PASSWORD, "domain": {"id": "default"}}
                    },
                },
                "scope": scope,
            }
        }
        resp = httpx.post(f"{self.url}/auth/tokens?nocatalog", json=body, timeout=30)
        resp.raise_for_status()
        return resp.headers["X-Subject-Token"]

    def revoke(self, token: str) -> None:
        admin = self.token("admin")
        resp = httpx.delete(
            f"{self.url}/auth/tokens",
            headers={"X-Auth-Token": admin, "X-Subject-Token": token},
            timeout=30,
        )
        resp.raise_for_status()

    def _provision(self) -> None:
        """Projects, users and role assignments, and the network service in the catalog
        (the `openstack` CLI finds the API there)."""

        def fresh_token(request: httpx.Request) -> None:
            # A token per call: a Keystone of short-lived tokens (`expiration`) is
            # provisioned too, however slow the machine.
            request.headers["X-Auth-Token"] = self.token("admin")

        api = httpx.Client(base_url=self.url, event_hooks={"request": [fresh_token]}, timeout=30)
        with api:
            for endpoint in api.get("/endpoints").json()["endpoints"]:
                api.patch(
                    f"/endpoints/{endpoint['id']}", json={"endpoint": {"url": self.url + "/"}}
                )
            roles = {r["name"]: r["id"] for r in api.get("/roles").json()["roles"]}
            for p in api.get("/projects").json()["projects"]:
                self.projects[p["name"]] = p["id"]
            for name in ("demo", "demo2", "service"):
                made = api.post(
                    "/projects", json={"project": {"name": name, "domain_id": "default"}}
                )
                self.projects[name] = made.json()["project"]["id"]
            self.users["admin"] = api.get("/users", params={"name": "admin"}).json()["users"][0][
                "id"
            ]
            for name, (project, role) in ROLES_BY_USER.items():
                made = api.post(
                    "/users",
                    json={"user": {"name": name, "password": PASSWORD, "domain_id": "default"}},
                )
                uid = self.users[name] = made.json()["user"]["id"]
                api.put(f"/projects/{self.projects[project]}/users/{uid}/roles/{roles[role]}")

    def add_network_service(self, url: str) -> None:
        admin = self.token("admin")
        with httpx.Client(base_url=self.url, headers={"X-Auth-Token": admin}, timeout=30) as api:
            service = api.post(
                "/services", json={"service": {"type": "network", "name": "neutron"}}
            )
            sid = service.json()["service"]["id"]
            for interface in ("public", "internal", "admin"):
                api.post(
                    "/endpoints",
                    json={
                        "endpoint": {
                            "service_id": sid,
                            "interface": interface,
                            "url": url,
                            "region_id": "RegionOne",
                        }
                    },
                )

    def server_env(self, cache_time: float = 300.0) -> dict[str, str]:
        """What `alcor server` needs to validate tokens against this Keystone."""
        return {
            "ALCOR_AUTH_STRATEGY": "keystone",
            "ALCOR_KEYSTONE_URL": self.url,
            "ALCOR_KEYSTONE_USERNAME": "neutron",
            "ALCOR_KEYSTONE_PASSWORD": PASSWORD,
            "ALCOR_TOKEN_CACHE_TIME": str(cache_time),
        }

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)


if __name__ == "__main__":  # python -m tests.support.keystone configure DIR (tempest.sh)
    if len(sys.argv) != 3 or sys.argv[1] != "configure":
        sys.exit("usage: python -m tests.support.keystone configure DIR")
    configure(Path(sys.argv[2]))
