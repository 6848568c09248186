"""The client side of southbound access: how the servers, agents and simulators connect.

Apart from `nats_auth` (which issues keys and renders permissions) because agents import
only the protocol package.
"""

from __future__ import annotations

import dataclasses
import ssl
from typing import Any


@dataclasses.dataclass(frozen=True)
class NatsAuth:
    """How a client connects: its nkey seed file, the CA that signed the server's TLS
    certificate (empty: no credentials / the system trust store) and, for one host's
    credentials, that host's inbox prefix (`subjects.inbox`), the only inboxes it may read."""

    credentials: str = ""
    tls_ca: str = ""
    inbox: str = ""

    def options(self) -> dict[str, Any]:
        """Keyword arguments for `nats.connect`."""
        opts: dict[str, Any] = {}
        if self.credentials:
            opts["nkeys_seed"] = self.credentials
        if self.inbox:
            opts["inbox_prefix"] = self.inbox
        if self.tls_ca:
            opts["tls"] = ssl.create_default_context(cafile=self.tls_ca)
        return opts


OPEN = NatsAuth()  # no credentials: a NATS without access control (tests' bare server)
