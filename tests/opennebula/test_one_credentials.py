"""OpenNebula credentials: found by OpenNebula's conventions, and the secret never shown."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from galerna.config.load import ConfigError, load_config
from galerna.config.schema import Config
from galerna.config.opennebula import OpenNebulaConfig, Placement, PreemptBy
from galerna.opennebula.credentials import (
    CredentialsError,
    SecretFilter,
    auth_candidates,
    load_credentials,
    parse_one_auth,
    safe_url,
    xmlrpc_endpoint,
    zmq_endpoint,
)

SECRET = "s3cr3t-Pa55:with:colons"


def test_one_auth_env_wins_over_home(tmp_path):
    env_file = tmp_path / "env_auth"
    env_file.write_text(f"oneadmin:{SECRET}\n")
    home = tmp_path / "home"
    (home / ".one").mkdir(parents=True)
    (home / ".one" / "one_auth").write_text("other:pw\n")
    c = load_credentials(OpenNebulaConfig(), env={"ONE_AUTH": str(env_file)}, home=home)
    assert c.user == "oneadmin" and c.session == f"oneadmin:{SECRET}" and c.source == str(env_file)


def test_home_one_auth_then_system(tmp_path):
    home = tmp_path / "home"
    (home / ".one").mkdir(parents=True)
    (home / ".one" / "one_auth").write_text("\n  alice:pw1  \n")
    c = load_credentials(OpenNebulaConfig(), env={}, home=home)
    assert (c.user, c.session) == ("alice", "alice:pw1")
    assert auth_candidates(OpenNebulaConfig(), env={}, home=home)[-1] == Path("/var/lib/one/.one/one_auth")


def test_config_auth_file_is_the_only_candidate(tmp_path):
    f = tmp_path / "auth"
    f.write_text("bob:pw")
    cfg = OpenNebulaConfig(auth_file=str(f))
    assert auth_candidates(cfg, env={"ONE_AUTH": "/nope"}) == [f]
    assert load_credentials(cfg, env={"ONE_AUTH": "/nope"}).user == "bob"


def test_missing_credentials_name_every_file_tried(tmp_path):
    with pytest.raises(CredentialsError) as e:
        load_credentials(OpenNebulaConfig(), env={"ONE_AUTH": str(tmp_path / "a")}, home=tmp_path / "h")
    msg = str(e.value)
    assert str(tmp_path / "a") in msg and str(tmp_path / "h" / ".one" / "one_auth") in msg and "missing" in msg


def test_malformed_file_names_the_file_not_its_content(tmp_path):
    f = tmp_path / "auth"
    f.write_text("justonewordsecret\n")
    with pytest.raises(CredentialsError) as e:
        load_credentials(OpenNebulaConfig(auth_file=str(f)), env={})
    assert str(f) in str(e.value) and "justonewordsecret" not in str(e.value)


def test_secret_never_in_repr_str_or_format():
    c = parse_one_auth(f"oneadmin:{SECRET}", "test")
    for text in (repr(c), str(c), f"{c}", f"{c!r}", repr([c]), repr(c.password)):
        assert SECRET not in text
    assert "oneadmin" in repr(c)


def test_redact_scrubs_session_and_password():
    c = parse_one_auth(f"oneadmin:{SECRET}", "test")
    text = f"call failed with session {c.session}; password {SECRET}"
    out = c.redact(text)
    assert out == "call failed with session ***; password ***"


def test_log_filter_scrubs_messages_args_and_exceptions(caplog):
    c = parse_one_auth(f"oneadmin:{SECRET}", "test")
    logger = logging.getLogger("galerna.test.secret")
    flt = SecretFilter(c.secrets())
    caplog.handler.addFilter(flt)
    try:
        with caplog.at_level(logging.INFO, logger="galerna.test.secret"):
            logger.info("session is %s", c.session)
            logger.warning(f"inline {SECRET}")
            try:
                raise RuntimeError(f"boom {c.session}")
            except RuntimeError:
                logger.exception("failed")
        assert len(caplog.records) == 3
        assert SECRET not in caplog.text
        assert "***" in caplog.text
    finally:
        caplog.handler.removeFilter(flt)


def test_endpoints_follow_environment_then_defaults():
    cfg = OpenNebulaConfig()
    assert xmlrpc_endpoint(cfg, {}) == "http://localhost:2633/RPC2"
    assert xmlrpc_endpoint(cfg, {"ONE_XMLRPC": "http://one:2633/RPC2"}) == "http://one:2633/RPC2"
    assert xmlrpc_endpoint(OpenNebulaConfig(endpoint="http://cfg/RPC2"), {"ONE_XMLRPC": "x"}) == "http://cfg/RPC2"
    assert zmq_endpoint(cfg, {}) == "tcp://localhost:2101"
    assert zmq_endpoint(cfg, {"ONE_ZMQ": "tcp://one:2101"}) == "tcp://one:2101"


def test_safe_url_drops_userinfo():
    assert safe_url(f"http://oneadmin:{SECRET}@one:2633/RPC2") == "http://***@one:2633/RPC2"
    assert safe_url("http://one:2633/RPC2") == "http://one:2633/RPC2"


def test_opennebula_section_in_toml(tmp_path):
    f = tmp_path / "g.toml"
    f.write_text('[opennebula]\nplacement = "xmlrpc"\npreempt = "undeploy"\nsystem_datastore = 100\n')
    cfg = load_config(f, [])
    assert cfg.opennebula.placement is Placement.XMLRPC
    assert cfg.opennebula.preempt is PreemptBy.UNDEPLOY and cfg.opennebula.system_datastore == 100
    assert Config().opennebula == OpenNebulaConfig()


def test_bad_opennebula_option_names_the_field(tmp_path):
    f = tmp_path / "g.toml"
    f.write_text('[opennebula]\npreempt = "suspend"\n')
    with pytest.raises(ConfigError) as e:
        load_config(f, [])
    assert "opennebula.preempt" in str(e.value)
