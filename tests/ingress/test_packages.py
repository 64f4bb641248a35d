"""Activate, deactivate and status end to end: ingress → real stream → in-process worker → storage."""

import asyncio
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from delivery.redis_appends import StreamAppends
from domain.streams import COMMANDS_STREAM, fixtures_queue
from tests.support import ACTIVATE, DEACTIVATE, PACKAGE_ID, STATUS, USERNAME

pytestmark = pytest.mark.usefixtures("worker")


async def post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(path, json=body)


async def test_status_of_a_new_package_is_inactive(
    client: httpx.AsyncClient, package: dict[str, Any]
) -> None:
    response = await post(client, STATUS, package)
    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("success", "packageId", "username", "status")} == {
        "success": True,
        "packageId": PACKAGE_ID,
        "username": USERNAME,
        "status": "inactive",
    }


async def test_status_shows_the_fixtures_queue_as_the_customer_sees_it(
    client: httpx.AsyncClient, package: dict[str, Any], redis: Redis
) -> None:
    queue = f"livescore:fixtures:{PACKAGE_ID}"
    for _ in range(3):
        await redis.xadd(queue, {"message": b"{}"})
    await redis.xgroup_create(queue, "customer", id="0")
    await redis.xreadgroup("customer", "reader-1", {queue: ">"}, count=1)
    body = (await post(client, STATUS, package)).json()
    assert body["queue"] == {"name": queue, "length": 3, "pending": 1, "consumers": 1, "lag": 2}


async def test_status_without_a_group_shows_the_queue_length_as_its_backlog(
    client: httpx.AsyncClient, package: dict[str, Any], redis: Redis
) -> None:
    await post(client, ACTIVATE, package)
    for _ in range(3):
        await redis.xadd(fixtures_queue(PACKAGE_ID), {"message": b"{}"})
    body = (await post(client, STATUS, package)).json()
    assert (body["queue"]["length"], body["queue"]["lag"]) == (3, 3)
    assert await accepted_under_limit(redis, 5) == 5 - body["queue"]["lag"]


async def test_status_shows_the_backlog_that_publishing_enforces_for_a_group_redis_cannot_tell(
    client: httpx.AsyncClient, package: dict[str, Any], redis: Redis
) -> None:
    """A group created at the 5th of 20 entries: XINFO has no lag for it; 15 are not delivered yet."""
    await post(client, ACTIVATE, package)
    ids = [await redis.xadd(fixtures_queue(PACKAGE_ID), {"message": b"{}"}) for _ in range(20)]
    await redis.xgroup_create(fixtures_queue(PACKAGE_ID), "customer", id=ids[4])
    body = (await post(client, STATUS, package)).json()
    assert (body["queue"]["length"], body["queue"]["lag"]) == (20, 15)
    assert await accepted_under_limit(redis, 20) == 20 - body["queue"]["lag"]


async def accepted_under_limit(redis: Redis, limit: int) -> int:
    """How many messages publishing accepts under this limit, offered one more than the limit."""
    published = await StreamAppends(redis, limit).publish(PACKAGE_ID, [b"{}"] * (limit + 1))
    return int(published.count)


async def test_activate_then_activate_again_says_already_active(
    client: httpx.AsyncClient, package: dict[str, Any]
) -> None:
    first = await post(client, ACTIVATE, package)
    second = await post(client, ACTIVATE, package)
    assert first.status_code == second.status_code == 200
    assert first.json() == {
        "success": True,
        "message": "Package activation completed successfully",
        "packageId": PACKAGE_ID,
        "username": USERNAME,
    }
    assert second.json()["message"] == "Package is already active"


async def test_deactivate_then_deactivate_again_says_already_inactive(
    client: httpx.AsyncClient, package: dict[str, Any]
) -> None:
    await post(client, ACTIVATE, package)
    first = await post(client, DEACTIVATE, package)
    second = await post(client, DEACTIVATE, package)
    assert first.json() == {
        "success": True,
        "message": "Package deactivation completed successfully",
        "packageId": PACKAGE_ID,
        "username": USERNAME,
    }
    assert second.json()["message"] == "Package is already inactive"


async def test_deactivating_an_inactive_package_says_already_inactive(
    client: httpx.AsyncClient, package: dict[str, Any]
) -> None:
    response = await post(client, DEACTIVATE, package)
    assert response.status_code == 200
    assert response.json()["message"] == "Package is already inactive"


async def test_status_right_after_a_change_sees_it(
    client: httpx.AsyncClient, package: dict[str, Any]
) -> None:
    for path, expected in [(ACTIVATE, "active"), (DEACTIVATE, "inactive")] * 5:
        assert (await post(client, path, package)).status_code == 200
        assert (await post(client, STATUS, package)).json()["status"] == expected


async def test_username_is_echoed_as_sent(client: httpx.AsyncClient, package: dict[str, Any]) -> None:
    response = await post(client, STATUS, package)
    assert response.json()["username"] == package["username"]


async def test_status_is_read_from_storage_when_the_redis_copy_is_gone(
    client: httpx.AsyncClient, package: dict[str, Any], redis: Redis
) -> None:
    await post(client, ACTIVATE, package)
    await redis.delete(f"livescore:package:{PACKAGE_ID}")
    assert (await post(client, STATUS, package)).json()["status"] == "active"


async def test_concurrent_changes_end_in_the_status_of_the_last_command(
    client: httpx.AsyncClient, package: dict[str, Any], redis: Redis
) -> None:
    paths = [ACTIVATE, DEACTIVATE] * 10
    responses = await asyncio.gather(*(post(client, p, package) for p in paths))
    assert [r.status_code for r in responses] == [200] * len(paths), [r.text for r in responses]
    newest: Any = await redis.xrevrange(COMMANDS_STREAM, count=1)
    last = newest[0][1][b"type"].decode()
    status = (await post(client, STATUS, package)).json()["status"]
    assert status == {"activate": "active", "deactivate": "inactive"}[last]


@pytest.mark.parametrize("path", [ACTIVATE, DEACTIVATE, STATUS])
async def test_nothing_is_enqueued_for_bad_credentials(
    client: httpx.AsyncClient, package: dict[str, Any], redis: Redis, path: str
) -> None:
    response = await post(client, path, {**package, "password": "wrong"})
    assert response.json() == {"error": "Invalid package credentials"}
    assert await redis.xlen(COMMANDS_STREAM) == 0


async def test_nothing_is_published_as_a_status_change_by_the_ingress(
    client: httpx.AsyncClient, package: dict[str, Any], redis: Redis
) -> None:
    await post(client, STATUS, package)
    assert await redis.xlen(COMMANDS_STREAM) == 0
