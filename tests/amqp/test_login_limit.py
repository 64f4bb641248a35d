"""AMQP logins are decided per username and client address at the vhost step, on a real broker (SPEC §9,
§2.3): once an address spent its budget the right password is refused like a wrong one, and a customer
at another address still gets in."""

import asyncio
import dataclasses

import aiormq
import aiormq.exceptions
import httpx
import pytest
from prometheus_client import REGISTRY
from yarl import URL

from domain.settings import Settings
from tests.rabbitmq_server import SessionNode
from tests.support_amqp import FIXTURES, TIMEOUT_S, Customer, NewCustomer, Question

pytestmark = pytest.mark.usefixtures("broker_auth")

# Low, so the test reaches it quickly.
LIMIT = 2
# Two client addresses of this machine: the loopback network is all of 127.0.0.0/8.
ATTACKER, CUSTOMER = "127.0.0.2", "127.0.0.1"


@pytest.fixture
def amqp_settings(settings: Settings, rabbitmq: SessionNode) -> Settings:
    return dataclasses.replace(rabbitmq.settings(settings), amqp_auth_failures=LIMIT)


def verifications() -> float:
    return REGISTRY.get_sample_value("livescore_argon2_verifications_total") or 0.0


async def log_in(node: SessionNode, customer: Customer, password: str, source: str) -> str:
    """ "open", or how the broker refused the connection, from the client address `source`."""
    url = URL.build(scheme="amqp", host="127.0.0.1", port=node.amqp_port, path=f"/{FIXTURES}")
    url = url.with_user(customer.username).with_password(password)
    try:
        connection = await asyncio.wait_for(aiormq.connect(url, local_addr=(source, 0)), TIMEOUT_S)
    except aiormq.exceptions.AMQPError as refused:
        return type(refused).__name__
    await connection.close()
    return "open"


async def test_once_an_address_spent_its_budget_the_right_password_is_refused_like_a_wrong_one(
    rabbitmq: SessionNode, new_customer: NewCustomer, broker_auth: list[Question]
) -> None:
    customer = await new_customer()
    wrong = [await log_in(rabbitmq, customer, f"guess-{n}", ATTACKER) for n in range(LIMIT + 2)]
    right = await log_in(rabbitmq, customer, customer.password, ATTACKER)
    assert len(set(wrong)) == 1
    assert wrong[0] != "open"
    assert right == wrong[0]
    # Every password was checked at login and let past it; the refusals came at the vhost step.
    asked = [(q.path, q.answer) for q in broker_auth if q.form.get("username") == customer.username]
    assert [answer for path, answer in asked if path == "/auth/user"][-1] == (
        f"allow livescore-package-{customer.package_id}"
    )
    assert [answer for path, answer in asked if path == "/auth/vhost"] == ["deny"] * (LIMIT + 3)
    # The customer, at another address, is not locked out by the guesser.
    assert await log_in(rabbitmq, customer, customer.password, CUSTOMER) == "open"


async def test_every_amqp_login_is_verified_so_none_is_answered_from_a_cache(
    rabbitmq: SessionNode, new_customer: NewCustomer
) -> None:
    """A login answered from RabbitMQ's auth cache or a remembered one would be faster for the right
    password than for a wrong one: an oracle without any limit."""
    customer = await new_customer()
    before = verifications()
    for _ in range(3):
        assert await log_in(rabbitmq, customer, customer.password, CUSTOMER) == "open"
    assert verifications() - before == 3


async def test_amqp_login_failures_do_not_lock_the_customers_api(
    rabbitmq: SessionNode, new_customer: NewCustomer, client: httpx.AsyncClient
) -> None:
    customer = await new_customer()
    for attempt in range(LIMIT + 3):
        await log_in(rabbitmq, customer, f"guess-{attempt}", CUSTOMER)
    body = {"packageId": customer.package_id, "username": customer.username, "password": customer.password}
    response = await client.post("/api/livescore/package/status", json=body)
    assert response.status_code == 200, response.text
