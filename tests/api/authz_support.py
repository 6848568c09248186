"""Callers of a Keystone-authenticated server, one per role, for the authorization tests."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.support.keystone import Keystone

# Who plays which part: the owner and a reader of project demo, a member of another project,
# the cloud admin, and Nova's service user.
ACTORS = {
    "owner": "member1",
    "other": "member2",
    "reader": "reader1",
    "admin": "admin",
    "service": "nova",
}


class Caller:
    """httpx against the server with one user's token (issued once, re-issued hourly)."""

    def __init__(self, ks: Keystone, url: str, user: str) -> None:
        self.ks = ks
        self.user = user
        self.http = httpx.Client(base_url=url, timeout=30)
        self.token = ""
        self.issued = 0.0

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if time.monotonic() - self.issued > 1800:
            self.token, self.issued = self.ks.token(self.user), time.monotonic()
        headers = {"X-Auth-Token": self.token, **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.request("POST", path, json=body)

    def put(self, path: str, body: Any) -> httpx.Response:
        return self.request("PUT", path, json=body)

    def delete(self, path: str) -> httpx.Response:
        return self.request("DELETE", path)

    def made(self, collection: str, body: Any) -> dict[str, Any]:
        """POST that must succeed; the created item."""
        resp = self.post(f"/v2.0/{collection}", body)
        assert resp.status_code == 201, resp.text
        return next(iter(resp.json().values()))
