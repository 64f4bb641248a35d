"""Redis behind Sentinel as `livescore dev --cluster`, the benchmarks and the tests start it
(servers/redis_sentinels.py): a primary, two replicas and three sentinels that agree on it, stopped cleanly;
with persistence, started again with its data and the primary the sentinels named last."""

from pathlib import Path
from typing import Any

import pytest

from servers import redis_sentinels as sentinel_servers
from servers.redis_sentinels import MASTER, SentinelSetup
from tests.support import server_missing

pytestmark = pytest.mark.cluster


def test_a_primary_two_replicas_and_three_sentinels_that_agree_on_it(redis_sentinels: SentinelSetup) -> None:
    primary = redis_sentinels.primary()
    assert [_role(node) for node in redis_sentinels.nodes].count("master") == 1
    assert _role(primary) == "master"
    with primary.client() as client:
        assert int(client.info("replication")["connected_slaves"]) == 2
    assert len(redis_sentinels.sentinels) == 3
    for sentinel in redis_sentinels.sentinels:
        with sentinel.client() as client:
            assert client.sentinel_get_master_addr_by_name(MASTER) == (b"127.0.0.1", primary.port)
    sentinels = ",".join(f"127.0.0.1:{s.port}" for s in redis_sentinels.sentinels)
    assert redis_sentinels.env == {"REDIS_SENTINELS": sentinels, "REDIS_SENTINEL_MASTER": MASTER}


def test_stopping_ends_every_process(redis_sentinels: SentinelSetup) -> None:
    redis_sentinels.stop()
    servers = redis_sentinels.nodes + redis_sentinels.sentinels
    assert len(servers) == 6
    assert all(server.popen.poll() is not None for server in servers)


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    if sentinel_servers.REDIS_SERVER is None:
        server_missing(f"no redis-server on this machine ({sentinel_servers.INSTALL_HINT})")
    return tmp_path / "state"


def test_started_again_it_keeps_its_data_on_the_primary_named_last(directory: Path) -> None:
    first = sentinel_servers.start(directory, persistent=True)
    try:
        with first.primary().client() as client:
            client.set("before", "1")
            client.wait(2, 5000)
        old = first.kill_primary()
        new_port = first.wait_for_failover(old.port)
        promoted = next(node.name for node in first.nodes if node.port == new_port)
        with first.primary().client() as client:
            client.set("after", "2")
    finally:
        first.stop()
    again = sentinel_servers.start(directory, persistent=True)
    try:
        assert again.primary().name == promoted
        with again.primary().client() as client:
            assert client.mget("before", "after") == [b"1", b"2"]
    finally:
        again.stop()
    assert all(s.popen.poll() is not None for s in again.nodes + again.sentinels)


def _role(node: sentinel_servers.Server) -> Any:
    with node.client() as client:
        return client.info("replication")["role"]
