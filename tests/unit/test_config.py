"""Settings precedence: flags > ALCOR_* environment > TOML file > defaults."""

import logging
from pathlib import Path

import pytest

from alcor.config import AgentSettings, ServerSettings, SettingError, configure_logging, load


def test_precedence(tmp_path: Path) -> None:
    conf = tmp_path / "alcor.toml"
    conf.write_text(
        'bind = "0.0.0.0:1"\n[server]\nmax_page_size = 7\nworkers = 3\n[agent]\nhost_id = "h9"\n'
    )
    env = {"ALCOR_MAX_PAGE_SIZE": "11", "ALCOR_AUTO_MIGRATE": "no"}
    s = load(
        ServerSettings,
        flags={"workers": 5, "bind": None},
        config_file=conf,
        environ=env,
        section="server",
    )
    assert s.bind == "0.0.0.0:1"  # file (flag given as None is ignored)
    assert s.max_page_size == 11  # environment beats file
    assert s.workers == 5  # flag beats file
    assert s.auto_migrate is False
    assert s.effective_database_url().endswith("/alcor.db")
    agent = load(AgentSettings, config_file=conf, environ={}, section="agent")
    assert agent.host_id == "h9"


def test_errors_say_what_is_wrong(tmp_path: Path) -> None:
    conf = tmp_path / "bad.toml"
    conf.write_text("[server]\nnope = 1\n")
    with pytest.raises(ValueError, match="unknown setting"):
        load(ServerSettings, config_file=conf, environ={}, section="server")
    with pytest.raises(FileNotFoundError):
        load(ServerSettings, config_file=tmp_path / "missing.toml", environ={})
    with pytest.raises(ValueError, match="not a boolean"):
        load(ServerSettings, environ={"ALCOR_AUTO_MIGRATE": "perhaps"})


def test_request_limits_and_quota_defaults_are_settings() -> None:
    s = load(
        ServerSettings,
        environ={"ALCOR_MAX_REQUEST_BODY_SIZE": "2048", "ALCOR_QUOTA_RBAC_POLICY": "3"},
    )
    assert s.max_request_body_size == 2048 and s.max_bulk_request_body_size > 2048
    quotas = s.quota_defaults()  # every quota key Neutron reports, declared in settings only
    assert quotas["rbac_policy"] == 3 and quotas["subnetpool"] == -1
    assert set(quotas) == {
        "network",
        "subnet",
        "subnetpool",
        "port",
        "router",
        "floatingip",
        "rbac_policy",
        "security_group",
        "security_group_rule",
    }


def test_log_level_names_loggers_after_the_base_level() -> None:
    name = "alcor.test_config.trace"
    try:
        assert configure_logging(f"WARNING, {name}=debug", "%(message)s") == "warning"
        assert logging.getLogger(name).level == logging.DEBUG
    finally:
        logging.getLogger(name).setLevel(logging.NOTSET)
    with pytest.raises(ValueError, match="'LOUD' is not a level"):
        configure_logging("warning,x=loud", "%(message)s")


def test_the_direct_resolve_channel_is_loopback_with_the_embedded_nats_else_what_is_set() -> None:
    assert ServerSettings().direct_resolve_address() == "127.0.0.1:0"
    assert ServerSettings(nats_url="nats://n:4222").direct_resolve_address() == ""
    assert ServerSettings(resolve_direct="off").direct_resolve_address() == ""
    given = ServerSettings(nats_url="nats://n:4222", resolve_direct="10.0.0.5:6650")
    assert given.direct_resolve_address() == "10.0.0.5:6650"
    assert ServerSettings(resolve_direct="[fd00::5]:0").direct_resolve_address() == "[fd00::5]:0"
    for bad in ("10.0.0.5", "10.0.0.5:x", ":6650", "h:70000"):
        with pytest.raises(SettingError, match="give host:port"):
            ServerSettings(resolve_direct=bad).direct_resolve_address()
