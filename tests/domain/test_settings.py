"""Settings come from the environment once, with the SPEC's names and defaults."""

import os

import pytest

from domain.settings import Settings


def test_defaults_are_the_spec_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite+aiosqlite:///./livescore.db"
    assert settings.port == 8000
    assert (settings.command_timeout_ms, settings.auth_failures, settings.auth_window_s) == (5000, 10, 60)
    assert (settings.claim_idle_ms, settings.max_deliveries) == (30000, 5)
    assert (settings.commands_maxlen, settings.queue_limit) == (1_000_000, 50000)
    assert settings.worker_port is None
    assert settings.auth_address_failures == 100


def test_verifications_run_in_one_thread_per_cpu_unless_told() -> None:
    assert Settings.from_env({}).verify_threads == (os.cpu_count() or 1)
    assert Settings.from_env({"LIVESCORE_VERIFY_THREADS": "3"}).verify_threads == 3


def test_names_follow_the_spec() -> None:
    settings = Settings.from_env(
        {
            "REDIS_URL": "redis://h:1/2",
            "DATABASE_URL": "postgresql+asyncpg://x/y",
            "PORT": "9000",
            "LIVESCORE_COMMAND_TIMEOUT_MS": "250",
            "LIVESCORE_WORKER_PORT": "9100",
            "LIVESCORE_AUTH_ADDRESS_FAILURES": "7",
        }
    )
    assert settings.redis_url == "redis://h:1/2"
    assert settings.database_url == "postgresql+asyncpg://x/y"
    assert (settings.port, settings.command_timeout_ms, settings.worker_port) == (9000, 250, 9100)
    assert settings.auth_address_failures == 7


def test_a_malformed_number_is_reported_by_its_variable_name() -> None:
    with pytest.raises(ValueError, match="LIVESCORE_QUEUE_LIMIT"):
        Settings.from_env({"LIVESCORE_QUEUE_LIMIT": "lots"})


def test_the_waiting_incidents_kept_in_memory_are_bounded_by_a_setting() -> None:
    assert Settings.from_env({}).incident_wait_max == 16_000
    assert Settings.from_env({"LIVESCORE_INCIDENT_WAIT_MAX": "160"}).incident_wait_max == 160


def test_the_request_timeout_is_ten_seconds_unless_set() -> None:
    assert Settings.from_env({}).request_timeout_s == 10
    assert Settings.from_env({"LIVESCORE_REQUEST_TIMEOUT_S": "2"}).request_timeout_s == 2


def test_idle_connections_are_kept_five_seconds_unless_set() -> None:
    assert Settings.from_env({}).keep_alive_s == 5
    assert Settings.from_env({"LIVESCORE_KEEP_ALIVE_S": "75"}).keep_alive_s == 75


def test_incident_wait_keep_alive_and_heartbeat_default_to_the_spec_and_zero_turns_them_off() -> None:
    settings = Settings.from_env({})
    assert (settings.incident_wait_s, settings.keepalive_s, settings.heartbeat_s) == (60, 30, 10)
    quiet = Settings.from_env({"LIVESCORE_KEEPALIVE_S": "0", "LIVESCORE_HEARTBEAT_S": "0.5"})
    assert (quiet.keepalive_s, quiet.heartbeat_s) == (0, 0.5)


def test_the_recovery_window_defaults_to_72_hours_and_must_be_positive() -> None:
    assert Settings.from_env({}).recovery_hours == 72
    assert Settings.from_env({"LIVESCORE_RECOVERY_HOURS": "0.5"}).recovery_hours == 0.5
    for wrong in ("0", "-1"):
        with pytest.raises(ValueError, match="LIVESCORE_RECOVERY_HOURS must be more than 0"):
            Settings.from_env({"LIVESCORE_RECOVERY_HOURS": wrong})
    with pytest.raises(ValueError, match="LIVESCORE_RECOVERY_HOURS is not valid"):
        Settings.from_env({"LIVESCORE_RECOVERY_HOURS": "three days"})


def test_sports_in_sets_are_a_comma_separated_list_and_a_bad_one_names_its_variable() -> None:
    assert Settings.from_env({"LIVESCORE_SET_SPORTS": "54094, 154830,265917"}).set_sports == (
        54094,
        154830,
        265917,
    )
    with pytest.raises(ValueError, match=r"LIVESCORE_SET_SPORTS is not valid .*: '54094,tennis'"):
        Settings.from_env({"LIVESCORE_SET_SPORTS": "54094,tennis"})
