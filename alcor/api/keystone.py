"""`auth_strategy = keystone`: the caller is whoever Keystone says the `X-Auth-Token` is.

What keystonemiddleware's `auth_token` does for Neutron, natively on the event loop (it is a
WSGI filter; running it in a thread per request costs ~0.6 ms more per cached request, see
`../shared/reference/keystone/README.md`): the token is validated with
`GET /v3/auth/tokens?nocatalog` carrying our own service user's token (keystone's policy lets
the `service` role validate any token), and the answer is kept for `token_cache_time` seconds
(keystonemiddleware's default: 300), never past the token's expiry. That window is also how
long a revoked token keeps working here, as with keystonemiddleware; set it lower to honour
revocations sooner. Concurrent requests with a new token share one validation. Refusals
(garbage, expired, revoked tokens) are cached too, so a flood of bad tokens costs Keystone one
request per token.

The token's project, user and roles become the request's `Context`; a token scoped to no
project (system, domain) is refused with a 403, as Neutron's rules are all for project scope.

A service (Nova) may send its own token beside the user's in `X-Service-Token`, as
keystonemiddleware accepts: a service token Keystone refuses makes the request a 401; one
with the `service` role (keystonemiddleware's `service_token_roles`) lets the user's token
be past its expiry (`?allow_expired=1`, within Keystone's `allow_expired_window`), so that a
long operation Nova started for a user can finish.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from alcor import errors
from alcor.api.keystone_http import KeystoneHTTP, KeystoneUnreachable, Response
from alcor.policy.enforcer import Policy
from alcor.resources.context import Context

log = logging.getLogger("alcor.api.keystone")

# Tokens remembered at most (an LRU): a burst of distinct tokens cannot grow memory unbounded.
CACHE_ENTRIES = 50_000
SERVICE_TOKEN_MARGIN = 60.0  # seconds before its expiry that our own token is renewed
# keystonemiddleware's `service_token_roles`: a service token with one of these may vouch for
# a user token past its expiry.
SERVICE_TOKEN_ROLES = frozenset({"service"})


@dataclass(frozen=True)
class KeystoneSettings:
    url: str  # e.g. http://keystone:5000/v3
    username: str
    password: str
    project_name: str = "service"
    user_domain: str = "Default"
    project_domain: str = "Default"
    cache_time: float = 300.0
    timeout: float = 10.0


@dataclass
class _Entry:
    until: float
    context: Context | None  # None: Keystone refused the token


def _expiry(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Keystone:
    """The authenticator for `auth_strategy = keystone`."""

    def __init__(self, settings: KeystoneSettings, policy: Policy) -> None:
        self.settings = settings
        self.policy = policy
        self.url = settings.url.rstrip("/")
        if not self.url.endswith("/v3"):
            self.url += "/v3"
        self.client = KeystoneHTTP(self.url, settings.timeout)
        self.cache: OrderedDict[bytes, _Entry] = OrderedDict()
        self.pending: dict[bytes, asyncio.Future[Context | None]] = {}
        self.service_token: tuple[str, float] | None = None
        self.service_lock = asyncio.Lock()

    def www_authenticate(self) -> str:
        return f'Keystone uri="{self.url.removesuffix("/v3")}"'

    def unauthenticated(self) -> errors.Unauthenticated:
        err = errors.Unauthenticated()
        err.headers = {"WWW-Authenticate": self.www_authenticate()}
        return err

    async def context(self, headers: Mapping[str, str]) -> Context:
        token = headers.get("x-auth-token")
        if not token:
            raise self.unauthenticated()
        allow_expired = False
        service_token = headers.get("x-service-token")
        if service_token:
            service = await self._caller(service_token, False)
            if service is None:
                raise self.unauthenticated()
            allow_expired = not SERVICE_TOKEN_ROLES.isdisjoint(service.roles)
        found = await self._caller(token, allow_expired)
        if found is None:
            raise self.unauthenticated()
        if not found.project_id:
            # Neutron's rules are for project scope (oslo.policy's enforce_scope).
            raise errors.PolicyNotAuthorized(action="A token not scoped to a project")
        return found

    async def _caller(self, token: str, allow_expired: bool) -> Context | None:
        """Who `token` is (None: Keystone refuses it), from the cache when it can be.
        Validations that let a token be expired are kept apart from the others."""
        key = hashlib.sha256(token.encode()).digest()
        if allow_expired:
            key += b"+expired"
        entry = self.cache.get(key)
        if entry is not None and entry.until > time.monotonic():
            return entry.context
        return await self._validate_once(key, token, allow_expired)

    async def _validate_once(self, key: bytes, token: str, allow_expired: bool) -> Context | None:
        waiting = self.pending.get(key)
        if waiting is not None:
            return await asyncio.shield(waiting)
        future: asyncio.Future[Context | None] = asyncio.get_running_loop().create_future()
        self.pending[key] = future
        try:
            found, until = await self._validate(token, allow_expired)
            self._remember(key, _Entry(until, found))
            future.set_result(found)
            return found
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        finally:
            del self.pending[key]

    def _remember(self, key: bytes, entry: _Entry) -> None:
        self.cache[key] = entry
        self.cache.move_to_end(key)
        while len(self.cache) > CACHE_ENTRIES:
            self.cache.popitem(last=False)

    async def _validate(self, token: str, allow_expired: bool) -> tuple[Context | None, float]:
        ttl_end = time.monotonic() + self.settings.cache_time
        path = (
            "/auth/tokens?nocatalog&allow_expired=1" if allow_expired else "/auth/tokens?nocatalog"
        )
        for attempt in (1, 2):
            service = await self._service_token(renew=attempt == 2)
            resp = await self._call(
                "GET", path, headers={"X-Auth-Token": service, "X-Subject-Token": token}
            )
            if resp.status == 401 and attempt == 1:
                continue  # our own token expired or was revoked: renew it once
            break
        if resp.status == 200:
            body = resp.json()["token"]
            if allow_expired:
                return self._context(body), ttl_end
            left = _expiry(body["expires_at"]) - time.time()
            if left <= 0:
                return None, ttl_end
            return self._context(body), min(ttl_end, time.monotonic() + left)
        if resp.status in (401, 403, 404):
            return None, ttl_end
        log.warning("keystone answered %s to a token validation", resp.status)
        raise _unavailable()

    def _context(self, token: Mapping[str, Any]) -> Context:
        project = token.get("project") or {}
        roles = frozenset(str(r["name"]).lower() for r in token.get("roles") or [])
        return Context(
            str(project.get("id") or ""),
            roles,
            str((token.get("user") or {}).get("id") or ""),
            policy=self.policy,
        )

    async def _service_token(self, renew: bool = False) -> str:
        async with self.service_lock:
            held = self.service_token
            if held is not None and not renew and held[1] - SERVICE_TOKEN_MARGIN > time.time():
                return held[0]
            s = self.settings
            body = {
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {
                                "name": s.username,
                                "password": s.password,
                                "domain": {"name": s.user_domain},
                            }
                        },
                    },
                    "scope": {
                        "project": {"name": s.project_name, "domain": {"name": s.project_domain}}
                    },
                }
            }
            resp = await self._call("POST", "/auth/tokens?nocatalog", {}, body)
            if resp.status != 201:
                log.error("keystone refused the service user %r: %s", s.username, resp.status)
                raise _unavailable()
            expires = _expiry(resp.json()["token"]["expires_at"])
            self.service_token = (resp.headers["x-subject-token"], expires)
            return self.service_token[0]

    async def _call(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> Response:
        try:
            return await self.client.request(method, path, headers, body)
        except KeystoneUnreachable as exc:
            log.warning("keystone unreachable: %s", exc)
            raise _unavailable() from None

    async def aclose(self) -> None:
        await self.client.aclose()


def _unavailable() -> errors.NeutronError:
    return errors.ServiceUnavailable("The identity service is not available; try again.")
