"""Where Redis is (SPEC §11): a URL, or the sentinels and the name of the primary they monitor; and how many
replicas must hold a command before it is answered."""

import pytest

from domain.connections import RedisAddress
from domain.settings import Settings

SENTINELS = {
    "REDIS_SENTINELS": "10.0.0.1:26379, 10.0.0.2:26380,sentinel-3:26381",
    "REDIS_SENTINEL_MASTER": "main",
}


def test_without_sentinels_redis_is_the_url() -> None:
    settings = Settings.from_env({"REDIS_URL": "redis://h:1/2"})
    assert settings.redis_address == RedisAddress("redis://h:1/2")
    assert (settings.redis_min_replicas, settings.redis_wait_timeout_ms) == (0, 1000)


def test_sentinels_and_their_master_name_replace_the_url() -> None:
    address = Settings.from_env(SENTINELS).redis_address
    assert address.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("sentinel-3", 26381))
    assert address.master == "main"


def test_the_url_still_gives_password_and_database_behind_sentinels() -> None:
    address = Settings.from_env({**SENTINELS, "REDIS_URL": "redis://:pw@ignored:1/3"}).redis_address
    assert address.url == "redis://:pw@ignored:1/3"
    assert "pw" not in address.describe()


@pytest.mark.parametrize(
    "given",
    [{"REDIS_SENTINELS": "h:26379"}, {"REDIS_SENTINEL_MASTER": "main"}],
    ids=["no-master", "no-sentinels"],
)
def test_one_sentinel_setting_without_the_other_is_refused(given: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together"):
        Settings.from_env(given)


@pytest.mark.parametrize("sentinels", ["h", "h:", ":26379", "h:port", "h:70000", "h:1,k"])
def test_a_sentinel_that_is_not_host_and_port_is_refused(sentinels: str) -> None:
    with pytest.raises(ValueError, match="REDIS_SENTINELS is not a list of host:port"):
        Settings.from_env({"REDIS_SENTINELS": sentinels, "REDIS_SENTINEL_MASTER": "main"})


def test_min_replicas_and_their_wait_are_read() -> None:
    given = {"LIVESCORE_REDIS_MIN_REPLICAS": "2", "LIVESCORE_REDIS_WAIT_TIMEOUT_MS": "250"}
    settings = Settings.from_env(given)
    assert (settings.redis_min_replicas, settings.redis_wait_timeout_ms) == (2, 250)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LIVESCORE_REDIS_MIN_REPLICAS", "-1"),
        ("LIVESCORE_REDIS_MIN_REPLICAS", "one"),
        # 0 would make WAIT block for ever; above 4 s it would outlast the hot connection's reply timeout.
        ("LIVESCORE_REDIS_WAIT_TIMEOUT_MS", "0"),
        ("LIVESCORE_REDIS_WAIT_TIMEOUT_MS", "60000"),
    ],
)
def test_a_wrong_replica_setting_is_refused_by_its_name(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})
