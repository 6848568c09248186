"""Real clients pointed at a test server."""

from __future__ import annotations

from typing import Any


def sdk_connection(url: str, project: str | None = None, roles: str | None = None) -> Any:
    """An openstacksdk Connection talking to `url` with `auth_type: none`, the way a
    noauth Neutron is used; project/roles go in noauth headers."""
    import openstack

    headers = {}
    if project:
        headers["X-Project-Id"] = project
        headers["X-Roles"] = roles or "member"
    conn = openstack.connect(
        auth_type="none",
        auth={"endpoint": url},
        network_endpoint_override=url,
        load_yaml_config=False,
        load_envvars=False,
    )
    if headers:
        conn.session.additional_headers.update(headers)
    return conn
