"""Authentication: one answer for every failure, remembered logins, password changes, brute force."""

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from redis.asyncio import Redis

import domain.passwords
import ingress.auth
from cli.package import _set_password
from domain.settings import Settings
from domain.streams import auth_address_failures, auth_failures
from ingress.app import create_app
from tests.support import ACTIVATE, DEACTIVATE, PACKAGE_ID, STATUS, TRIGGER, asgi_client, dump_redis, hold

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


async def test_every_credential_failure_of_an_existing_package_pays_one_argon2_verify(
    client: httpx.AsyncClient, package: dict[str, Any], verifies: list[str]
) -> None:
    changes: list[dict[str, Any]] = [{"username": "x@example.com"}, {"password": "wrong"}]
    for change in changes:
        await client.post(STATUS, json={**package, **change})
    assert len(verifies) == 2


async def test_a_login_for_a_package_that_does_not_exist_runs_no_argon2(
    client: httpx.AsyncClient, package: dict[str, Any], verifies: list[str]
) -> None:
    """It only takes as long as one (ingress/verification_pool.py): a flood against unknown packages
    costs the verification pool nothing."""
    await client.post(STATUS, json={**package, "password": "wrong"})
    for package_id in range(900, 910):
        assert (await client.post(STATUS, json={**package, "packageId": package_id})).json() == INVALID
    assert len(verifies) == 1


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


@pytest.mark.parametrize("path", [STATUS, ACTIVATE, DEACTIVATE, TRIGGER])
async def test_once_locked_out_the_right_password_of_a_remembered_login_gets_the_same_429(
    strict_app: Litestar, package: dict[str, Any], path: str
) -> None:
    """No oracle (SPEC §2.3): a login this process remembers (here the owner's, from elsewhere) is not let
    through a spent budget, or the one 200 among the 429s would tell a guesser they are right."""
    async with (
        asgi_client(strict_app, "192.0.2.9") as owner,
        asgi_client(strict_app, "198.51.100.1") as attacker,
    ):
        assert (await owner.post(STATUS, json=package)).status_code == 200
        for i in range(4):
            await attacker.post(STATUS, json={**package, "password": f"guess{i}"})
        wrong = await attacker.post(path, json={**package, "password": "guess5"})
        right = await attacker.post(path, json=package)
        assert (wrong.status_code, right.status_code) == (429, 429)
        assert right.json() == wrong.json() == {"error": "Too many failed attempts; retry later"}
        assert 1 <= int(right.headers["Retry-After"]) <= 30
        # The owner, at another address, is not locked out by it.
        assert (await owner.post(STATUS, json=package)).status_code == 200


async def test_once_the_address_budget_is_spent_a_remembered_login_from_it_gets_429(
    settings: Settings, package: dict[str, Any]
) -> None:
    app = create_app(dataclasses.replace(settings, auth_address_failures=2, auth_window_s=30))
    async for _ in hold(app.lifespan()):
        async with asgi_client(app, "198.51.100.1") as attacker:
            assert (await attacker.post(STATUS, json=package)).status_code == 200
            for i in range(3):
                guess = {"packageId": 900 + i, "username": "x@example.com", "password": "g"}
                await attacker.post(STATUS, json=guess)
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


@dataclasses.dataclass
class Verifications:
    """Argon2 verifications made by the ingress: how many, and the most that ran at once."""

    made: int = 0
    running: int = 0
    most_at_once: int = 0
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def wrap(self, real: Callable[[str | None, str], bool]) -> Callable[[str | None, str], bool]:
        def counting(password_hash: str | None, password: str) -> bool:
            with self.lock:
                self.made += 1
                self.running += 1
                self.most_at_once = max(self.most_at_once, self.running)
            try:
                return real(password_hash, password)
            finally:
                with self.lock:
                    self.running -= 1

        return counting


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> Verifications:
    counted = Verifications()
    monkeypatch.setattr(ingress.auth, "verify_password", counted.wrap(domain.passwords.verify_password))
    return counted


@pytest.fixture
def app_with(settings: Settings) -> Callable[..., AbstractAsyncContextManager[Litestar]]:
    """An ingress app with some settings changed, running for the length of an `async with` in the test."""

    @contextlib.asynccontextmanager
    async def started(**changes: Any) -> AsyncIterator[Litestar]:
        app = create_app(dataclasses.replace(settings, **changes))
        async with app.lifespan():
            yield app

    return started


LOCKED = {"error": "Too many failed attempts; retry later"}


async def test_concurrent_guesses_for_one_package_are_verified_at_most_the_limit_plus_one_times(
    strict_app: Litestar, package: dict[str, Any], verifications: Verifications, redis: Redis
) -> None:
    async with asgi_client(strict_app, "198.51.100.1") as attacker:
        answers = await asyncio.gather(
            *(attacker.post(STATUS, json={**package, "password": f"guess{i}"}) for i in range(30))
        )
    refused = [a for a in answers if a.status_code == 429]
    assert verifications.made <= 3 + 1
    assert len(refused) >= 30 - (3 + 1)
    assert sorted({a.status_code for a in answers}) == [400, 429]
    for answer in refused:
        assert answer.json() == LOCKED
        assert 1 <= int(answer.headers["Retry-After"]) <= 30
    assert int(await redis.get(auth_failures(PACKAGE_ID, "198.51.100.1")) or 0) <= 3 + 1


async def test_a_correct_login_gives_back_the_try_it_reserved(
    strict_app: Litestar, package: dict[str, Any], redis: Redis
) -> None:
    """With a limit of 3, three failures leave one more try; the owner's correct login in between
    does not use it up, in either budget."""
    async with asgi_client(strict_app, "198.51.100.1") as client:
        for i in range(3):
            assert (await client.post(STATUS, json={**package, "password": f"guess{i}"})).status_code == 400
        assert (await client.post(STATUS, json=package)).status_code == 200
        counters = [auth_failures(PACKAGE_ID, "198.51.100.1"), auth_address_failures("198.51.100.1")]
        assert [int(await redis.get(key) or 0) for key in counters] == [3, 3]
        assert (await client.post(STATUS, json={**package, "password": "guess3"})).status_code == 400
        assert (await client.post(STATUS, json={**package, "password": "guess4"})).status_code == 429


async def test_a_burst_of_correct_first_logins_is_not_refused_by_the_failure_limit(
    strict_app: Litestar, package: dict[str, Any]
) -> None:
    async with asgi_client(strict_app, "198.51.100.1") as client:
        responses = await asyncio.gather(*(client.post(STATUS, json=package) for _ in range(20)))
    assert [r.status_code for r in responses] == [200] * 20


async def test_failures_for_many_packages_from_one_address_answer_429_after_the_address_limit(
    app_with: Callable[..., AbstractAsyncContextManager[Litestar]], package: dict[str, Any]
) -> None:
    async with (
        app_with(auth_address_failures=5, auth_window_s=30) as app,
        asgi_client(app, "198.51.100.1") as attacker,
        asgi_client(app, "192.0.2.9") as owner,
        asgi_client(app, "192.0.2.10") as other,
    ):
        unknown = [{**package, "packageId": 1000 + i} for i in range(7)]
        answers = [await attacker.post(STATUS, json=body) for body in unknown]
        assert [a.status_code for a in answers] == [400] * 6 + [429]
        assert answers[-1].json() == LOCKED
        assert 1 <= int(answers[-1].headers["Retry-After"]) <= 30
        # The address is refused for every package, its own owner's included...
        assert (await attacker.post(STATUS, json=package)).status_code == 429
        # ...while other addresses keep their own budgets.
        assert (await other.post(STATUS, json=unknown[0])).json() == INVALID
        assert (await owner.post(STATUS, json=package)).status_code == 200


async def test_verifications_run_in_a_pool_of_the_configured_size(
    app_with: Callable[..., AbstractAsyncContextManager[Litestar]],
    package: dict[str, Any],
    verifications: Verifications,
) -> None:
    async with app_with(verify_threads=2) as app:
        clients = [asgi_client(app, f"198.51.100.{i}") for i in range(8)]
        answers = await asyncio.gather(
            *(c.post(STATUS, json={**package, "password": f"guess{i}"}) for i, c in enumerate(clients))
        )
        for c in clients:
            await c.aclose()
    assert [a.json() for a in answers] == [INVALID] * 8
    assert verifications.made == 8
    assert verifications.most_at_once == 2


async def test_one_address_has_one_verification_at_a_time(
    app_with: Callable[..., AbstractAsyncContextManager[Litestar]],
    package: dict[str, Any],
    verifications: Verifications,
) -> None:
    async with app_with(verify_threads=4) as app, asgi_client(app, "198.51.100.1") as attacker:
        guesses = [{**package, "password": f"guess{i}"} for i in range(6)]
        answers = await asyncio.gather(*(attacker.post(STATUS, json=body) for body in guesses))
    assert [a.json() for a in answers] == [INVALID] * 6
    assert (verifications.made, verifications.most_at_once) == (6, 1)


async def test_a_login_that_storage_could_not_check_uses_up_no_try(
    app_with: Callable[..., AbstractAsyncContextManager[Litestar]],
    package: dict[str, Any],
    redis: Redis,
    tmp_path: Path,
) -> None:
    """An outage is no guess: a customer retrying through it is not locked out once storage returns."""
    storage_gone = f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/x.db"
    async with app_with(database_url=storage_gone, auth_failures=1) as app, asgi_client(app) as client:
        answers = [await client.post(STATUS, json=package) for _ in range(3)]
    assert [a.status_code for a in answers] == [500] * 3
    counters = [int(await redis.get(key) or 0) for key in await redis.keys("livescore:auth-*")]
    assert sum(counters) == 0


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
