"""The policy language (oslo.policy's grammar, Neutron's field checks), rules bound per caller,
the policy file, and the server's refusal of unsafe authentication settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from alcor.api.auth import UnsafeSettings, authenticator
from alcor.config import ServerSettings
from alcor.policy import checks
from alcor.policy.enforcer import Policy
from alcor.resources.context import Context, with_implied


def ctx(project: str = "p1", *roles: str) -> Context:
    return Context(project, with_implied(frozenset(roles)), "u1")


@pytest.mark.parametrize(
    ("rule", "target", "allowed"),
    [
        ("", {}, True),
        ("@", {}, True),
        ("!", {}, False),
        ("role:member", {}, True),
        ("role:MEMBER", {}, True),  # roles compare in any case
        ("role:admin", {}, False),
        ("project_id:%(project_id)s", {"project_id": "p1"}, True),
        ("project_id:%(project_id)s", {"project_id": "p2"}, False),
        ("project_id:%(project_id)s", {}, False),
        ("(role:admin) or (role:member and project_id:%(project_id)s)", {"project_id": "p1"}, True),
        ("role:admin or role:member and project_id:%(project_id)s", {"project_id": "p2"}, False),
        ("not role:admin", {}, True),
        ("not (role:reader or role:admin)", {}, False),
        ("field:port:device_owner=~^network:", {"device_owner": "network:dhcp"}, True),
        ("field:port:device_owner=~^network:", {"device_owner": "compute:nova"}, False),
        ("field:networks:shared=True", {"shared": True}, True),
        ("field:networks:shared=True", {"network:shared": True}, True),  # a port's network
        ("field:networks:router:external=True", {"router:external": False}, False),
        ("'p1':%(project_id)s", {"project_id": "p1"}, True),
        ("is_admin:True", {}, False),
        ("rule:nonexistent", {}, False),
    ],
)
def test_checks(rule: str, target: dict[str, object], allowed: bool) -> None:
    policy = Policy({"r": rule})
    assert policy.check(ctx("p1", "member"), "r", target) is allowed


def test_rules_fold_to_constants_for_a_caller() -> None:
    policy = Policy()
    member, admin = ctx("p1", "member"), ctx("p9", "admin")
    assert policy.bound("get_port:binding:host_id", member) is False
    assert policy.bound("get_port:binding:host_id", admin) is True
    residual = policy.bound("get_port", member)
    assert not isinstance(residual, bool)
    check, _ = residual
    assert check({"project_id": "p1"}) is True
    assert check({"project_id": "p2", "network:project_id": "p1"}) is True
    assert check({"project_id": "p2", "network:project_id": "p2"}) is False


def test_a_caller_without_a_project_may_do_nothing() -> None:
    assert Policy().check(Context("", frozenset({"admin"})), "get_network", {}) is False


def test_unknown_rules_asked_directly_are_the_default_rule() -> None:
    policy = Policy()
    assert policy.check(ctx("p1", "member"), "frobnicate_thing", {"project_id": "p1"})
    assert not policy.check(ctx("p1", "member"), "frobnicate_thing", {"project_id": "p2"})


@pytest.mark.parametrize("bad", ["role:a and", "(role:a", "role:a )", "nonsense"])
def test_syntax_errors(bad: str) -> None:
    with pytest.raises(checks.PolicySyntaxError):
        checks.parse(bad)


def test_policy_file_overrides_by_name(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text('"create_network:shared": "role:member"\n"mine": "role:member"\n')
    policy = Policy.load(str(path))
    assert policy.check(ctx("p1", "member"), "create_network:shared", {})
    assert policy.check(ctx("p1", "member"), "mine", {})
    assert not Policy().check(ctx("p1", "member"), "create_network:shared", {})
    path.write_text("- not a mapping\n")
    with pytest.raises(checks.PolicySyntaxError):
        Policy.load(str(path))


def test_noauth_is_refused_off_loopback_unless_told() -> None:
    assert authenticator(ServerSettings(bind="127.0.0.1:9696"))
    with pytest.raises(UnsafeSettings, match="noauth_public"):
        authenticator(ServerSettings(bind="0.0.0.0:9696"))
    assert authenticator(ServerSettings(bind="0.0.0.0:9696", noauth_public=True))
    with pytest.raises(UnsafeSettings, match="keystone_url"):
        authenticator(ServerSettings(auth_strategy="keystone"))
