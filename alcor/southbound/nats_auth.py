"""Southbound credentials and permissions: who may say what on NATS (OVN's southbound RBAC).

Every user of the embedded nats-server is an nkey (an Ed25519 key pair): the client proves it
holds the private seed by signing the server's nonce, so the server keeps public keys only,
no password or hash, and nothing secret crosses the wire even without TLS. Seeds are made by
the operator's command (`alcor hosts add`, `alcor hosts import --credentials-dir`), written
0600 for the agent that uses them, never stored by the server and never logged.

Roles and their permissions (`authorization()`, rendered into the nats-server configuration):

* a **server** may publish and subscribe to everything: it publishes goal states
  (`alcor.host.*`, `alcor.net.*`), serves the RPCs and hears every host;
* a **host** may publish only under its own id (`subjects.FROM_HOSTS`: registration, host
  state requests, heartbeats, status) plus neighbour-table and address-set requests, and may
  subscribe only to its own host subject, its own reply inboxes (`subjects.inbox`) and every
  network's and security group's subject. It can neither speak for another host nor publish
  goal states or replies, so it cannot change what other hosts are told. Reading
  `alcor.net.*` and `alcor.sg.*` (and asking for any network's table or group's address set)
  is not scoped yet: a host can read every network's neighbour table (MACs, IPs, VTEPs) and
  every group's member addresses, not only those its ports need. Scoping that needs per-host
  permissions that change with every binding, i.e. a reload per port;
* a **fleet** (`alcor sim`: thousands of simulated hosts on one connection) may act as any
  host. One nats user per simulated host would not help: the simulator shares one connection,
  and a connection has one user. Issue fleet credentials to test deployments only.

Keys live in `<state_dir>/nats/keys.json` (0600). Every change rewrites `authorization.conf`
next to it, which the embedded server's configuration includes; a running embedded server is
told to reload (`nats_server.reload`). (An operator-run NATS could include it too, but nothing
issues a servers' key for one yet.)
Measured with nats-server 2.15: 10,000 host users make a 3.5 MB file that loads in about 2 s
and reloads in about 1.5 s (136 MB resident), so `alcor hosts import` reloads once per file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import nkeys

from alcor.southbound.protocol import subjects

ROLES = ("servers", "hosts", "fleets")
SERVER_NAME = "server"


def new_key() -> tuple[str, str]:
    """A fresh nkey user: (seed, public key)."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    return seed.decode(), nkeys.from_seed(bytearray(seed)).public_key.decode()


# What any host may ask for and read: not scoped per host yet (see the module docstring).
SHARED_RPCS = [
    subjects.RPC_NEIGHBORS,
    subjects.RPC_ADDRESS_SET,
    subjects.RPC_ROUTER,
    subjects.RPC_RESOLVE,
]
READABLE = [
    subjects.every(subjects.NETWORK),
    subjects.every(subjects.GROUP),
    subjects.every(subjects.ROUTER),
    f"{subjects.NEIGHBOR}.>",
]


def host_permissions(host_id: str) -> dict[str, Any]:
    """What the credentials of `host_id` may publish and subscribe to."""
    return {
        "publish": {
            "allow": [subjects.of_host(k, host_id) for k in subjects.FROM_HOSTS] + SHARED_RPCS
        },
        "subscribe": {
            "allow": [
                subjects.host(host_id),
                *READABLE,
                f"{subjects.inbox(host_id)}.>",
            ]
        },
    }


FLEET_PERMISSIONS = {
    "publish": {"allow": [subjects.every(k) for k in subjects.FROM_HOSTS] + SHARED_RPCS},
    "subscribe": {"allow": [subjects.every(subjects.HOST), *READABLE, f"{subjects.INBOX}.>"]},
}


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by its owner only."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


class KeyStore:
    """The public keys of the southbound's users, by role and name, in `work_dir`."""

    def __init__(self, work_dir: str | Path) -> None:
        self.work_dir = Path(work_dir)
        self.path = self.work_dir / "keys.json"
        self.conf = self.work_dir / "authorization.conf"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, dict[str, str]]]:
        """The keys, for reading and changing under an exclusive lock; written back (with
        `authorization.conf`) when the block ends without error."""
        self.work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with (self.work_dir / "keys.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            keys: dict[str, dict[str, str]] = {role: {} for role in ROLES}
            if self.path.is_file():
                keys.update(json.loads(self.path.read_text()))
            yield keys
            write_private(self.path, json.dumps(keys, indent=1, sort_keys=True))
            write_private(self.conf, f"authorization: {json.dumps(self.authorization(keys))}\n")

    def issue(self, role: str, names: Iterable[str]) -> dict[str, str]:
        """New credentials for `names` in `role`, replacing any they had (the old seeds stop
        working at the next reload); returns the seeds by name."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        seeds = {}
        with self._locked() as keys:
            for name in names:
                seeds[name], keys[role][name] = new_key()
        return seeds

    def server_credentials(self) -> Path:
        """The seed file of the servers' user, created (0600) at the first start."""
        seed_file = self.work_dir / f"{SERVER_NAME}.nk"
        with self._locked() as keys:
            if not seed_file.is_file() or SERVER_NAME not in keys["servers"]:
                seed, keys["servers"][SERVER_NAME] = new_key()
                write_private(seed_file, seed + "\n")
        return seed_file

    @staticmethod
    def authorization(keys: dict[str, dict[str, str]]) -> dict[str, Any]:
        """The nats-server `authorization` block: a server user has every permission."""
        users: list[dict[str, Any]] = [{"nkey": k} for k in keys["servers"].values()]
        users += [{"nkey": k, "permissions": host_permissions(h)} for h, k in keys["hosts"].items()]
        users += [{"nkey": k, "permissions": FLEET_PERMISSIONS} for k in keys["fleets"].values()]
        return {"users": users}
