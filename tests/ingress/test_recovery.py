"""The recovery trigger (SPEC §12): every check and its message to the letter, in SPEC's order; the command
it appends; triggers coalescing while one is queued; `livescore replay` leaving it alone unless asked."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.commands import TriggerRecovery, from_fields
from domain.owner_requests import OwnerRequest, RequestKind, finish_request
from domain.streams import COMMANDS_STREAM
from tests.support import BODY, RECOVER, USERNAME, Cli, add_package


def _ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


async def _commands(redis: Redis) -> list[Any]:
    entries: Any = await redis.xrange(COMMANDS_STREAM)
    return [from_fields(fields) for _, fields in entries]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[]", "Request body must be a JSON object"),
        (b"{", "Request body must be a JSON object"),
        ({**BODY, "packageId": "123", "after": "x"}, "PackageId must be a positive integer"),
        ({**BODY, "username": " ", "after": "x"}, "Username is required"),
        ({**BODY, "password": "", "after": "x"}, "Password is required"),
        ({**BODY, "password": "wrong", "after": "x"}, "Invalid package credentials"),
        ({**BODY, "packageId": 124, "after": "x"}, "Invalid package credentials"),
        ({**BODY, "after": "yesterday"}, "After must be an ISO-8601 time"),
        ({**BODY, "after": "2030-01-01T10:00:00"}, "After must be an ISO-8601 time"),
        ({**BODY, "after": "2030-01-01"}, "After must be an ISO-8601 time"),
        ({**BODY, "after": ""}, "After must be an ISO-8601 time"),
        ({**BODY, "after": 1767225600}, "After must be an ISO-8601 time"),
        ({**BODY, "after": _ago(hours=73)}, "After is outside the recovery window"),
        ({**BODY, "after": "2020-01-01T00:00:00Z"}, "After is outside the recovery window"),
    ],
)
async def test_each_failing_check_answers_its_message_and_appends_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis, body: Any, message: str
) -> None:
    await add_package(engine)
    if isinstance(body, bytes):
        response = await client.post(RECOVER, content=body, headers={"content-type": "application/json"})
    else:
        response = await client.post(RECOVER, json=body)
    assert (response.status_code, response.json()) == (400, {"error": message})
    assert await redis.xlen(COMMANDS_STREAM) == 0


@pytest.mark.parametrize("after", [None, "not a time", _ago(hours=100)])
async def test_an_inactive_package_is_refused_before_its_after_is_looked_at(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis, after: str | None
) -> None:
    await add_package(engine, active=False)
    response = await client.post(RECOVER, json={**BODY, "after": after})
    assert (response.status_code, response.json()) == (400, {"error": "Package is inactive"})
    assert await redis.xlen(COMMANDS_STREAM) == 0


async def test_a_recovery_is_answered_and_appended_as_a_recovery_command(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await add_package(engine)
    response = await client.post(RECOVER, json={**BODY, "after": "2030-01-01T12:00:00+02:00", "x": 1})
    assert response.status_code == 200
    answer = response.json()
    assert answer == {
        "success": True,
        "message": "Recovery request sent successfully",
        "packageId": 123,
        "username": USERNAME,
        "requestId": answer["requestId"],
    }
    (command,) = await _commands(redis)
    assert isinstance(command, TriggerRecovery)
    assert (command.package_id, command.request_id) == (123, answer["requestId"])
    # Normalised to UTC; a future time is accepted (it recovers no incident).
    assert command.after == "2030-01-01T10:00:00.000Z"
    entries: Any = await redis.xrange(COMMANDS_STREAM)
    assert b"password" not in entries[0][1]
    assert b"secret" not in b"".join(entries[0][1].values())


async def test_without_after_the_command_has_none(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await add_package(engine)
    for body in (BODY, {**BODY, "after": None}):
        response = await client.post(RECOVER, json=body)
        assert response.status_code == 200
    (command,) = await _commands(redis)
    assert isinstance(command, TriggerRecovery)
    assert command.after == ""


async def test_triggers_while_a_recovery_is_queued_get_its_request_id_until_it_is_done(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await add_package(engine)
    first = (await client.post(RECOVER, json={**BODY, "after": _ago(minutes=10)})).json()["requestId"]
    second = (await client.post(RECOVER, json=BODY)).json()["requestId"]
    assert second == first
    assert len(await _commands(redis)) == 1
    # Done (every partition served, its completion sent): the next trigger is a new recovery.
    await finish_request(redis, OwnerRequest(first, RequestKind.RECOVERY, 123))
    third = (await client.post(RECOVER, json=BODY)).json()["requestId"]
    assert third != first
    assert len(await _commands(redis)) == 2


async def test_a_snapshot_and_a_recovery_do_not_coalesce_with_each_other(
    client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await add_package(engine)
    snapshot = (await client.post("/api/livescore/snapshots/trigger", json=BODY)).json()["requestId"]
    recovery = (await client.post(RECOVER, json=BODY)).json()["requestId"]
    assert snapshot != recovery
    assert len(await _commands(redis)) == 2


async def test_replay_skips_recoveries_unless_snapshots_are_included(
    cli: Cli, client: httpx.AsyncClient, engine: AsyncEngine, redis: Redis
) -> None:
    await add_package(engine)
    after = "2030-01-01T10:00:00.000Z"
    assert (await client.post(RECOVER, json={**BODY, "after": after})).status_code == 200
    await cli.output("replay")
    assert await redis.xlen(COMMANDS_STREAM) == 1
    output = await cli.output("replay", "--include-snapshots")
    assert "(1 re-sent)" in output
    again = (await _commands(redis))[-1]
    assert isinstance(again, TriggerRecovery)
    assert again.after == after
    assert again.request_id != (await _commands(redis))[0].request_id
