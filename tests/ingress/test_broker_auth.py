"""The broker-auth app answers RabbitMQ's four questions by SPEC §9's rules (through the app, no broker)."""

import dataclasses
import logging
from collections.abc import AsyncIterator
from unittest.mock import ANY

import httpx
import pytest
from litestar import Litestar
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from cli.package import _set_password
from domain import packages
from domain.settings import Settings
from domain.streams import amqp_auth_failures
from ingress.broker_auth import create_app
from tests.support import asgi_client, hold

FIXTURES, INCIDENTS = "Fixtures", "Incidents"
ALICE, BOB = ("alice@example.com", "alice-secret"), ("bob@example.com", "bob-secret")


@pytest.fixture
def auth_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, amqp_auth_failures=3)


@pytest.fixture
async def broker_auth(auth_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app: Litestar = create_app(auth_settings)
    async for _ in hold(app.lifespan()):
        async with asgi_client(app, address="127.0.0.1") as client:
            yield client


@pytest.fixture
async def customers(engine: AsyncEngine) -> None:
    """Alice owns 11 and 12 with one password, and 13 with another; Bob owns 21."""
    async with engine.begin() as conn:
        await packages.add_package(conn, 11, ALICE[0], ALICE[1])
        await packages.add_package(conn, 12, ALICE[0], ALICE[1])
        await packages.add_package(conn, 13, ALICE[0], "alice-other-secret")
        await packages.add_package(conn, 21, BOB[0], BOB[1])


async def login(client: httpx.AsyncClient, username: str, password: str) -> str:
    response = await client.post("/auth/user", data={"username": username, "password": password})
    assert response.status_code == 200
    return response.text


async def enter(
    client: httpx.AsyncClient, vhost: str, tags: str, username: str = ALICE[0], ip: str = "::ffff:127.0.0.1"
) -> str:
    form = {"username": username, "vhost": vhost, "ip": ip, "tags": tags}
    response = await client.post("/auth/vhost", data=form)
    assert response.status_code == 200
    return response.text


async def use(
    client: httpx.AsyncClient,
    name: str,
    permission: str,
    *,
    tags: str,
    resource: str = "queue",
    vhost: str = FIXTURES,
) -> str:
    form = {
        "username": ALICE[0],
        "vhost": vhost,
        "resource": resource,
        "name": name,
        "permission": permission,
    }
    response = await client.post("/auth/resource", data={**form, "tags": tags})
    assert response.status_code == 200
    return response.text


def verifications() -> float:
    return REGISTRY.get_sample_value("livescore_argon2_verifications_total") or 0.0


@pytest.mark.usefixtures("customers")
async def test_a_login_proves_every_package_whose_credentials_it_presents(
    broker_auth: httpx.AsyncClient,
) -> None:
    assert await login(broker_auth, *ALICE) == "allow livescore-package-11 livescore-package-12"
    assert await login(broker_auth, ALICE[0], "alice-other-secret") == "allow livescore-package-13"
    assert await login(broker_auth, *BOB) == "allow livescore-package-21"


@pytest.mark.usefixtures("customers")
@pytest.mark.parametrize(
    ("username", "password"),
    [
        (ALICE[0], "wrong"),
        ("nobody@example.com", ALICE[1]),
        ("ALICE@example.com", ALICE[1]),
        (BOB[0], ALICE[1]),
    ],
    ids=["wrong password", "unknown username", "username differs in case", "another's"],
)
async def test_a_login_that_proves_no_package_is_let_past_the_password_without_tags(
    broker_auth: httpx.AsyncClient, username: str, password: str
) -> None:
    """The user path's answer does not say whether the password was right; the vhost step refuses it."""
    assert await login(broker_auth, username, password) == "allow"
    assert await enter(broker_auth, FIXTURES, "", username=username) == "deny"


@pytest.mark.usefixtures("customers")
@pytest.mark.parametrize(("username", "password"), [(ALICE[0], ""), ("", ALICE[1])])
async def test_empty_credentials_are_denied_at_once(
    broker_auth: httpx.AsyncClient, username: str, password: str
) -> None:
    assert await login(broker_auth, username, password) == "deny"


@pytest.mark.usefixtures("customers")
async def test_an_unknown_username_runs_no_verification(broker_auth: httpx.AsyncClient) -> None:
    """It takes as long as one (ingress/verification_pool.py), without a thread or a core."""
    before = verifications()
    await login(broker_auth, "nobody@example.com", "guess")
    assert verifications() == before


@pytest.mark.usefixtures("customers")
async def test_every_login_is_verified_so_the_right_password_is_not_answered_faster(
    broker_auth: httpx.AsyncClient,
) -> None:
    """No remembered login: one would answer the right password without Argon2 and a wrong one after it."""
    before = verifications()
    for _ in range(3):
        assert await login(broker_auth, *BOB) == "allow livescore-package-21"
        assert await login(broker_auth, BOB[0], "wrong") == "allow"
    assert verifications() - before == 6


@pytest.mark.usefixtures("customers")
async def test_a_password_change_sends_the_next_login_back_to_verification(
    broker_auth: httpx.AsyncClient, settings: Settings
) -> None:
    assert await login(broker_auth, *BOB) == "allow livescore-package-21"
    await _set_password(settings, 21, "bob-new-secret")
    assert await login(broker_auth, *BOB) == "allow"
    assert await login(broker_auth, BOB[0], "bob-new-secret") == "allow livescore-package-21"


@pytest.mark.usefixtures("customers")
async def test_a_package_added_under_a_username_is_proven_by_the_next_login(
    broker_auth: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    assert await login(broker_auth, *BOB) == "allow livescore-package-21"
    async with engine.begin() as conn:
        await packages.add_package(conn, 22, BOB[0], BOB[1])
    assert await login(broker_auth, *BOB) == "allow livescore-package-21 livescore-package-22"


@pytest.mark.parametrize("vhost", [FIXTURES, INCIDENTS])
async def test_a_login_with_a_proven_package_enters_the_feeds_vhosts(
    broker_auth: httpx.AsyncClient, vhost: str
) -> None:
    assert await enter(broker_auth, vhost, "livescore-package-11") == "allow"


@pytest.mark.parametrize(
    ("vhost", "tags"),
    [
        ("/", "livescore-package-11"),
        ("fixtures", "livescore-package-11"),
        (FIXTURES, ""),
        (FIXTURES, "administrator management"),
        (FIXTURES, "livescore-package-011 livescore-package-0 livescore-package-+1 livescore-package-1x"),
    ],
    ids=["default vhost", "vhost name differs in case", "no tags", "RabbitMQ's own tags", "malformed tags"],
)
async def test_any_other_vhost_or_a_login_without_a_proven_package_is_refused(
    broker_auth: httpx.AsyncClient, vhost: str, tags: str
) -> None:
    assert await enter(broker_auth, vhost, tags) == "deny"


@pytest.mark.parametrize("vhost", [FIXTURES, INCIDENTS])
async def test_reading_the_queue_of_a_proven_package_is_allowed(
    broker_auth: httpx.AsyncClient, vhost: str
) -> None:
    tags = "livescore-package-11 livescore-package-12"
    assert await use(broker_auth, "_11_", "read", tags=tags, vhost=vhost) == "allow"
    assert await use(broker_auth, "_12_", "read", tags=tags, vhost=vhost) == "allow"


@pytest.mark.parametrize(
    ("resource", "name", "permission", "vhost"),
    [
        ("queue", "_11_", "configure", FIXTURES),
        ("queue", "_11_", "write", FIXTURES),
        ("queue", "_13_", "read", FIXTURES),
        ("queue", "_011_", "read", FIXTURES),
        ("queue", "11", "read", FIXTURES),
        ("queue", "_11_x", "read", FIXTURES),
        ("queue", "amq.gen-xyz", "read", FIXTURES),
        ("queue", "_11_", "read", "/"),
        ("exchange", "amq.default", "write", FIXTURES),
        ("exchange", "amq.topic", "write", INCIDENTS),
        ("exchange", "_11_", "read", FIXTURES),
        ("exchange", "_11_", "configure", FIXTURES),
    ],
    ids=[
        "declare or delete own queue",
        "write own queue",
        "another package's queue",
        "own id with a leading zero",
        "queue named without underscores",
        "queue named otherwise",
        "server-named queue",
        "own queue on another vhost",
        "publish to the default exchange",
        "publish to a topic exchange",
        "read an exchange",
        "declare an exchange",
    ],
)
async def test_every_other_access_is_denied(
    broker_auth: httpx.AsyncClient, resource: str, name: str, permission: str, vhost: str
) -> None:
    tags = "livescore-package-11 livescore-package-12"
    assert await use(broker_auth, name, permission, tags=tags, resource=resource, vhost=vhost) == "deny"


async def test_a_queue_is_read_only_with_its_packages_tag(broker_auth: httpx.AsyncClient) -> None:
    assert await use(broker_auth, "_11_", "read", tags="livescore-package-12") == "deny"
    assert await use(broker_auth, "_11_", "read", tags="") == "deny"


async def test_the_topic_path_always_denies(broker_auth: httpx.AsyncClient) -> None:
    form = {
        "username": ALICE[0],
        "vhost": FIXTURES,
        "resource": "topic",
        "name": "amq.topic",
        "permission": "write",
        "routing_key": "#",
        "tags": "livescore-package-11",
    }
    response = await broker_auth.post("/auth/topic", data=form)
    assert (response.status_code, response.text) == (200, "deny")


ATTACKER, OWNER = "198.51.100.1", "::ffff:192.0.2.9"
PROVEN_BOB = "livescore-package-21"


async def guess(client: httpx.AsyncClient, ip: str = ATTACKER, username: str = BOB[0]) -> str:
    """A wrong password, as RabbitMQ asks about it: the user path, then the vhost path."""
    assert await login(client, username, "guess") == "allow"
    return await enter(client, FIXTURES, "", username=username, ip=ip)


@pytest.mark.usefixtures("customers")
async def test_once_an_address_spent_its_budget_the_right_password_is_refused_like_a_wrong_one(
    broker_auth: httpx.AsyncClient, redis: Redis
) -> None:
    """No oracle (SPEC §2.3): the limit (3), then one more that is still counted; then both answers agree."""
    assert [await guess(broker_auth) for _ in range(4)] == ["deny"] * 4
    assert await login(broker_auth, *BOB) == f"allow {PROVEN_BOB}"
    assert await enter(broker_auth, FIXTURES, PROVEN_BOB, username=BOB[0], ip=ATTACKER) == "deny"
    assert await guess(broker_auth) == "deny"
    assert int(await redis.get(amqp_auth_failures(BOB[0], ATTACKER)) or 0) == 4


@pytest.mark.usefixtures("customers")
async def test_a_guesser_at_one_address_does_not_lock_the_customer_out_at_another(
    broker_auth: httpx.AsyncClient,
) -> None:
    for _ in range(10):
        await guess(broker_auth)
    assert await enter(broker_auth, INCIDENTS, PROVEN_BOB, username=BOB[0], ip=OWNER) == "allow"


@pytest.mark.usefixtures("customers")
async def test_guesses_from_one_address_at_many_usernames_meet_the_address_limit(
    broker_auth: httpx.AsyncClient, auth_settings: Settings
) -> None:
    limited = dataclasses.replace(auth_settings, auth_address_failures=2)
    app = create_app(limited)
    async for _ in hold(app.lifespan()):
        async with asgi_client(app, address="127.0.0.1") as client:
            answers = [await guess(client, username=f"user{i}@example.com") for i in range(3)]
            assert answers == ["deny"] * 3
            assert await enter(client, FIXTURES, PROVEN_BOB, username=BOB[0], ip=ATTACKER) == "deny"
            assert await enter(client, FIXTURES, PROVEN_BOB, username=BOB[0], ip=OWNER) == "allow"


@pytest.mark.usefixtures("customers")
async def test_a_login_that_enters_gives_its_try_back(broker_auth: httpx.AsyncClient, redis: Redis) -> None:
    await guess(broker_auth, ip=OWNER)
    for _ in range(3):
        assert await enter(broker_auth, FIXTURES, PROVEN_BOB, username=BOB[0], ip=OWNER) == "allow"
    # RabbitMQ writes an IPv4 client as ::ffff:a.b.c.d on a dual-stack listener: one client either way.
    assert int(await redis.get(amqp_auth_failures(BOB[0], OWNER.removeprefix("::ffff:"))) or 0) == 1


@pytest.mark.usefixtures("customers")
async def test_amqp_login_failures_do_not_lock_the_customers_api(
    broker_auth: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    for _ in range(6):
        await guess(broker_auth, ip="127.0.0.1")
    assert await enter(broker_auth, FIXTURES, PROVEN_BOB, username=BOB[0], ip="127.0.0.1") == "deny"
    response = await client.post(
        "/api/livescore/package/status", json={"packageId": 21, "username": BOB[0], "password": BOB[1]}
    )
    assert response.status_code == 200, response.text


@pytest.mark.usefixtures("customers")
async def test_no_password_reaches_the_log(
    broker_auth: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await login(broker_auth, *BOB)
        await login(broker_auth, BOB[0], "a-guess-XYZ")
    assert BOB[1] not in caplog.text
    assert "a-guess-XYZ" not in caplog.text


async def test_unreachable_storage_denies_with_500(auth_settings: Settings) -> None:
    broken = dataclasses.replace(auth_settings, database_url="sqlite+aiosqlite:////nonexistent/dir/x.db")
    app = create_app(broken)
    async for _ in hold(app.lifespan()):
        async with asgi_client(app) as client:
            response = await client.post("/auth/user", data={"username": BOB[0], "password": BOB[1]})
    assert (response.status_code, response.text) == (500, "deny")


async def test_a_body_that_is_not_the_brokers_is_refused(broker_auth: httpx.AsyncClient) -> None:
    many = {f"field{i}": "x" for i in range(40)}
    response = await broker_auth.post("/auth/user", data=many)
    assert (response.status_code, response.text) == (400, "deny")
    assert (await broker_auth.get("/auth/user")).text == "deny"


async def test_health_readiness_and_metrics_are_served(broker_auth: httpx.AsyncClient) -> None:
    assert (await broker_auth.get("/health")).status_code == 200
    ready = await broker_auth.get("/ready")
    expected = {"status": "ready", "redis": "ok", "storage": "ok", "redisPrimary": {"pool": ANY}}
    assert (ready.status_code, ready.json()) == (200, expected)
    assert "livescore_amqp_logins_total" in (await broker_auth.get("/metrics")).text
