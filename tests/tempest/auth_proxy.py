"""Keystone in front of a noauth `alcor server`, the way Neutron's API pipeline has it.

Tempest authenticates against a real Keystone and sends only `X-Auth-Token`. Alcor's API is
Neutron's *noauth* mode (`alcor/resources/context.py`): it trusts `X-Project-Id` / `X-Roles` /
`X-User-Id`. This WSGI app is keystonemiddleware's `auth_token` (the very filter Neutron runs)
around a plain forwarder: the middleware validates the token with Keystone (401 with
`WWW-Authenticate` on a bad one), strips any identity headers the caller sent, and sets the
token's project, user and roles as `X-*` headers, which the forwarder passes to Alcor with the
rest of the request. So the server under test is the unmodified `alcor server`.

Run it under gunicorn from the tempest venv (it needs keystonemiddleware), configured by the
environment: ALCOR_URL (the server), KEYSTONE_URL (`http://host:port/v3`), and the service
user KEYSTONE_USER / KEYSTONE_PASSWORD / KEYSTONE_PROJECT (domain `Default`).
"""

from __future__ import annotations

import http.client
import os
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from keystonemiddleware import auth_token

# Hop-by-hop headers (RFC 9110 §7.6.1) and the length the forwarder sets itself. `Host` goes
# through, so that the links Alcor builds (pagination, `self`) name the proxy, as they would
# name Neutron's public endpoint.
_SKIP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}


class Forwarder:
    """A WSGI app that replays each request on the Alcor server (one kept-alive connection
    per thread) and returns its answer unchanged."""

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 80
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
            self.local.conn = conn
        return conn

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = urllib.parse.quote(environ.get("PATH_INFO", "")) or "/"
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else None
        headers = {}
        for key, value in environ.items():
            # keystonemiddleware sets some identity headers to None (a project token has no
            # domain); those are absent, not empty.
            if key.startswith("HTTP_") and value is not None:
                name = key[5:].replace("_", "-").lower()
                if name not in _SKIP:
                    headers[name] = value
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        if body is not None:
            headers["content-length"] = str(len(body))
        for attempt in (1, 2):
            conn = self._conn()
            try:
                conn.request(environ["REQUEST_METHOD"], path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, OSError):
                # The server closed the kept-alive connection: once more on a new one.
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
        out = [(k, v) for k, v in resp.getheaders() if k.lower() not in _SKIP]
        out.append(("Content-Length", str(len(data))))
        start_response(f"{resp.status} {resp.reason}", out)
        return [data]


def make_app() -> Callable[..., Iterable[bytes]]:
    keystone = os.environ["KEYSTONE_URL"]
    conf = {
        "auth_type": "password",
        "auth_url": keystone,
        "www_authenticate_uri": keystone,
        "username": os.environ.get("KEYSTONE_USER", "admin"),
        "password": os.environ.get("KEYSTONE_PASSWORD", "secret"),
        "project_name": os.environ.get("KEYSTONE_PROJECT", "admin"),
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "delay_auth_decision": False,
        "include_service_catalog": False,
    }
    forward = Forwarder(os.environ["ALCOR_URL"])
    authed = auth_token.AuthProtocol(forward, conf)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # Neutron's paste pipeline: the version document at `/` is public, `/v2.0` is not.
        if environ.get("PATH_INFO", "/").startswith("/v2.0"):
            return authed(environ, start_response)
        return forward(environ, start_response)

    return app


app = make_app() if "KEYSTONE_URL" in os.environ and "ALCOR_URL" in os.environ else None
