"""Authentication: one answer for every failure, remembered logins, password changes, brute force."""

import asyncio
import dataclasses
from typing import Any

import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis

import domain.passwords
import ingress.auth
from cli.main import _set_password
from domain.settings import Settings
from ingress.app import create_app
from tests.conftest import PACKAGE_ID, asgi_client, hold

STATUS = "/api/livescore/package/status"
INVALID = {"error": "Invalid package credentials"}


@pytest.fixture
def verifies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts Argon2 verifications made by the ingress."""
    calls: list[str] = []
    real = domain.passwords.verify_password

    def counting(password_hash: str | None, password: str) -> bool:
        calls.append(password)
        return real(password_hash, password)

    monkeypatch.setattr(ingress.auth, "verify_password", counting)
    return calls


@pytest.mark.parametrize(
    "change",
    [
        {"packageId": 999},
        {"username": "someone@example.com"},
        {"password": "wrong"},
        {"username": "USER@example.com"},
    ],
    ids=["unknown package", "wrong username", "wrong password", "username differs in case"],
)
async def test_every_credential_failure_gets_the_same_answer(
    client: httpx.AsyncClient, package: dict[str, Any], change: dict[str, Any]
) -> None:
    response = await client.post(STATUS, json={**package, **change})
    assert response.status_code == 400
    assert response.json() == INVALID


async def test_every_credential_failure_pays_one_argon2_verify(
    client: httpx.AsyncClient, package: dict[str, Any], verifies: list[str]
) -> None:
    changes: list[dict[str, Any]] = [{"packageId": 999}, {"username": "x@example.com"}, {"password": "wrong"}]
    for change in changes:
        await client.post(STATUS, json={**package, **change})
    assert len(verifies) == 3


async def test_a_known_client_is_not_verified_again(
    client: httpx.AsyncClient, package: dict[str, Any], verifies: list[str]
) -> None:
    for _ in range(5):
        assert (await client.post(STATUS, json=package)).status_code == 200
    assert len(verifies) == 1


async def test_a_burst_of_first_requests_pays_argon2_once(
    client: httpx.AsyncClient, package: dict[str, Any], verifies: list[str]
) -> None:
    responses = await asyncio.gather(*(client.post(STATUS, json=package) for _ in range(10)))
    assert [r.status_code for r in responses] == [200] * 10
    assert len(verifies) == 1


async def test_a_remembered_login_does_not_admit_another_password(
    client: httpx.AsyncClient, package: dict[str, Any]
) -> None:
    await client.post(STATUS, json=package)
    response = await client.post(STATUS, json={**package, "password": "secret2"})
    assert response.json() == INVALID


async def test_changing_the_password_drops_remembered_logins_at_once(
    client: httpx.AsyncClient, package: dict[str, Any], settings: Settings
) -> None:
    assert (await client.post(STATUS, json=package)).status_code == 200
    await _set_password(settings, PACKAGE_ID, "new secret")
    assert (await client.post(STATUS, json=package)).json() == INVALID
    assert (await client.post(STATUS, json={**package, "password": "new secret"})).status_code == 200


async def test_changing_the_password_stops_remembered_logins_in_other_ingress_processes(
    app: Litestar, settings: Settings, package: dict[str, Any]
) -> None:
    other = create_app(settings)
    async for _ in hold(other.lifespan()):
        clients = [asgi_client(app), asgi_client(other)]
        for c in clients:
            assert (await c.post(STATUS, json=package)).status_code == 200
        await _set_password(settings, PACKAGE_ID, "new secret")
        for c in clients:
            assert (await c.post(STATUS, json=package)).json() == INVALID
            await c.aclose()


@pytest.fixture
async def strict_app(settings: Settings) -> Any:
    app = create_app(dataclasses.replace(settings, auth_failures=3, auth_window_s=30))
    async for _ in hold(app.lifespan()):
        yield app


async def test_too_many_failures_from_one_address_answer_429_with_retry_after(
    strict_app: Litestar, package: dict[str, Any]
) -> None:
    async with asgi_client(strict_app, "198.51.100.1") as attacker:
        answers = [await attacker.post(STATUS, json={**package, "password": f"guess{i}"}) for i in range(4)]
        assert [a.status_code for a in answers] == [400, 400, 400, 400]
        locked = await attacker.post(STATUS, json={**package, "password": "guess5"})
        assert locked.status_code == 429
        assert locked.json() == {"error": "Too many failed attempts; retry later"}
        assert 1 <= int(locked.headers["Retry-After"]) <= 30
        # Even the right password is refused from that address while the lockout lasts.
        assert (await attacker.post(STATUS, json=package)).status_code == 429


async def test_a_locked_out_address_does_not_lock_out_the_owner_elsewhere(
    strict_app: Litestar, package: dict[str, Any]
) -> None:
    async with (
        asgi_client(strict_app, "198.51.100.1") as attacker,
        asgi_client(strict_app, "192.0.2.9") as owner,
    ):
        for i in range(5):
            await attacker.post(STATUS, json={**package, "password": f"guess{i}"})
        assert (await owner.post(STATUS, json=package)).status_code == 200


async def test_the_failure_count_is_shared_by_ingress_processes(
    strict_app: Litestar, settings: Settings, package: dict[str, Any]
) -> None:
    other = create_app(dataclasses.replace(settings, auth_failures=3, auth_window_s=30))
    async for _ in hold(other.lifespan()):
        async with (
            asgi_client(strict_app, "198.51.100.1") as first,
            asgi_client(other, "198.51.100.1") as second,
        ):
            for i in range(2):
                await first.post(STATUS, json={**package, "password": f"guess{i}"})
                await second.post(STATUS, json={**package, "password": f"other{i}"})
            assert (await second.post(STATUS, json={**package, "password": "again"})).status_code == 429


async def test_the_password_never_reaches_redis(
    client: httpx.AsyncClient, package: dict[str, Any], redis: Redis, worker: Any
) -> None:
    for path in ["package/activate", "snapshots/trigger", "package/status", "package/deactivate"]:
        await client.post(f"/api/livescore/{path}", json=package)
    await client.post(STATUS, json={**package, "password": "wrong-guess"})
    dump = await dump_redis(redis)
    assert b"secret" not in dump
    assert b"wrong-guess" not in dump
    assert b"$argon2" not in dump


async def dump_redis(redis: Any) -> bytes:
    """Every key name and value in the database, streams entry by entry."""
    parts: list[bytes] = []
    async for key in redis.scan_iter():
        parts.append(key)
        kind = (await redis.type(key)).decode()
        if kind == "stream":
            parts += [repr(e).encode() for e in await redis.xrange(key)]
        elif kind == "hash":
            parts.append(repr(await redis.hgetall(key)).encode())
        elif kind == "string":
            parts.append(await redis.get(key) or b"")
    return b"\n".join(parts)


async def test_behind_a_proxy_the_trusted_header_names_the_client(
    settings: Settings, package: dict[str, Any]
) -> None:
    proxied = dataclasses.replace(settings, auth_failures=1, client_ip_header="X-Forwarded-For")
    app = create_app(proxied)
    async for _ in hold(app.lifespan()):
        # Every request comes from the proxy's address; the header tells the clients apart.
        async with asgi_client(app, "10.0.0.1") as proxy:
            attacker = {"X-Forwarded-For": "spoofed, 198.51.100.1"}
            for _ in range(2):
                await proxy.post(STATUS, json={**package, "password": "guess"}, headers=attacker)
            locked = await proxy.post(STATUS, json=package, headers=attacker)
            owner = await proxy.post(STATUS, json=package, headers={"X-Forwarded-For": "192.0.2.9"})
    assert locked.status_code == 429
    assert owner.status_code == 200


async def test_behind_a_proxy_the_last_line_of_the_trusted_header_names_the_client(
    settings: Settings, package: dict[str, Any]
) -> None:
    """A proxy appending a header line of its own (HAProxy's `option forwardfor`) leaves the client's
    lines before it: the client's own cannot choose the address counted."""
    proxied = dataclasses.replace(settings, auth_failures=1, client_ip_header="X-Forwarded-For")
    app = create_app(proxied)
    async for _ in hold(app.lifespan()):
        async with asgi_client(app, "10.0.0.1") as proxy:
            answers = []
            for i in range(3):
                lines = [("X-Forwarded-For", f"spoof-{i}"), ("X-Forwarded-For", "198.51.100.1")]
                guess = await proxy.post(STATUS, json={**package, "password": "guess"}, headers=lines)
                answers.append(guess.status_code)
    assert answers == [400, 400, 429]
