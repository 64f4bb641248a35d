"""`livescore amqp config` and `setup` without a broker: the files, and one-line failures."""

import dataclasses
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cli.main import app
from domain.broker_config import OPERATOR_MARKER, rabbitmq_conf
from domain.settings import Settings
from tests.support import free_port

SETTINGS = Settings(broker_auth_url="http://auth.internal:9090/")


def livescore(settings: Settings, *args: str) -> Any:
    return CliRunner().invoke(app, list(args), obj=settings)


def conf_lines(path: Path) -> dict[str, str]:
    """The settings of a rabbitmq.conf, comments left out."""
    pairs = (
        line.split(" = ", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")
    )
    return dict((key, value) for key, value in pairs)


def test_amqp_config_writes_the_auth_backends_for_this_deployment(tmp_path: Path) -> None:
    result = livescore(SETTINGS, "amqp", "config", str(tmp_path / "rabbit"))
    assert result.exit_code == 0, result.output
    assert conf_lines(tmp_path / "rabbit" / "rabbitmq.conf") == {
        "auth_backends.1": "internal",
        "auth_backends.2": "http",
        "auth_http.http_method": "post",
        "auth_http.user_path": "http://auth.internal:9090/auth/user",
        "auth_http.vhost_path": "http://auth.internal:9090/auth/vhost",
        "auth_http.resource_path": "http://auth.internal:9090/auth/resource",
        "auth_http.topic_path": "http://auth.internal:9090/auth/topic",
        "collect_statistics_interval": "1000",
    }
    assert (tmp_path / "rabbit" / "enabled_plugins").read_text() == (
        "[rabbitmq_management,rabbitmq_auth_backend_http].\n"
    )


def test_customers_logins_are_not_cached_by_the_broker() -> None:
    """A cached `allow` answers the right password faster than a wrong one (an oracle); uncached, a
    changed password also bites at once (SPEC §9: within 60 s)."""
    conf = rabbitmq_conf(Settings.from_env({}))
    assert "\nauth_backends.2 = http\n" in conf
    assert "auth_cache" not in conf


def test_the_broker_auth_app_listens_on_this_machine_by_default() -> None:
    settings = Settings.from_env({})
    assert (settings.broker_auth_host, settings.broker_auth_port) == ("127.0.0.1", 8081)
    assert settings.broker_auth_url == "http://127.0.0.1:8081"
    assert (settings.amqp_fixtures_vhost, settings.amqp_incidents_vhost) == ("Fixtures", "Incidents")


def test_amqp_config_again_keeps_what_the_operator_appended(tmp_path: Path) -> None:
    livescore(SETTINGS, "amqp", "config", str(tmp_path))
    conf = tmp_path / "rabbitmq.conf"
    conf.write_text(conf.read_text() + "listeners.ssl.default = 5671\n")
    moved = dataclasses.replace(SETTINGS, broker_auth_url="http://10.0.0.5:8081")
    assert livescore(moved, "amqp", "config", str(tmp_path)).exit_code == 0
    assert conf.read_text() == rabbitmq_conf(moved) + "listeners.ssl.default = 5671\n"
    assert conf.read_text().count(OPERATOR_MARKER) == 1


def test_amqp_config_keeps_the_other_plugins_an_operator_enabled(tmp_path: Path) -> None:
    (tmp_path / "enabled_plugins").write_text("[rabbitmq_prometheus,rabbitmq_management].\n")
    assert livescore(SETTINGS, "amqp", "config", str(tmp_path)).exit_code == 0
    assert (tmp_path / "enabled_plugins").read_text() == (
        "[rabbitmq_management,rabbitmq_auth_backend_http,rabbitmq_prometheus].\n"
    )


def test_amqp_config_refuses_to_overwrite_a_rabbitmq_conf_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "rabbitmq.conf").write_text("listeners.tcp.default = 5672\n")
    result = livescore(SETTINGS, "amqp", "config", str(tmp_path))
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "was not written by `livescore amqp config`" in result.output
    assert (tmp_path / "rabbitmq.conf").read_text() == "listeners.tcp.default = 5672\n"


def test_amqp_config_where_no_directory_can_be_fails_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    result = livescore(SETTINGS, "amqp", "config", str(tmp_path / "a-file" / "rabbit"))
    assert result.exit_code == 1
    assert result.output.startswith("livescore: cannot write the broker's configuration in ")
    assert result.output.count("\n") == 1


def test_amqp_setup_without_a_broker_fails_with_one_line_that_says_what_to_do() -> None:
    settings = dataclasses.replace(
        SETTINGS, amqp_management_url=f"http://admin:adm1n-s3cret@127.0.0.1:{free_port()}"
    )
    result = livescore(settings, "amqp", "setup")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "cannot reach RabbitMQ's management API at http://127.0.0.1:" in result.output
    assert "adm1n-s3cret" not in result.output


def test_amqp_setup_needs_an_administrator_in_the_management_url() -> None:
    settings = dataclasses.replace(SETTINGS, amqp_management_url="http://127.0.0.1:15672")
    result = livescore(settings, "amqp", "setup")
    assert result.exit_code == 1
    assert "LIVESCORE_AMQP_MANAGEMENT_URL names no user" in result.output
