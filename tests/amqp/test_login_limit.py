"""AMQP login failures are limited per username, on their own budget (SPEC §9, §2.3), on a real broker."""

import dataclasses

import aiormq.exceptions
import httpx
import pytest
from prometheus_client import REGISTRY

from domain.settings import Settings
from tests.amqp.conftest import Customer, Question
from tests.amqp.test_customers import FIXTURES, NewCustomer, connect
from tests.rabbitmq_server import SessionNode

# Low, so the test reaches it quickly.
LIMIT = 2


@pytest.fixture
def amqp_settings(settings: Settings, rabbitmq: SessionNode) -> Settings:
    return dataclasses.replace(rabbitmq.settings(settings), amqp_auth_failures=LIMIT)


def verifications() -> float:
    return REGISTRY.get_sample_value("livescore_argon2_verifications_total") or 0.0


async def guess(node: SessionNode, customer: Customer, password: str) -> None:
    with pytest.raises(aiormq.exceptions.AMQPConnectionError):
        await connect(node, customer, FIXTURES, password=password)


async def test_amqp_login_failures_beyond_the_limit_are_refused_without_verifying(
    rabbitmq: SessionNode, new_customer: NewCustomer, broker_auth: list[Question]
) -> None:
    customer = await new_customer()
    for attempt in range(LIMIT + 1):
        await guess(rabbitmq, customer, f"guess-{attempt}")
    before = verifications()
    await guess(rabbitmq, customer, customer.password)  # right, but the username's budget is spent
    assert verifications() == before
    assert [q.answer for q in broker_auth if q.path == "/auth/user"] == ["deny"] * (LIMIT + 2)


async def test_amqp_login_failures_do_not_lock_the_customers_api(
    rabbitmq: SessionNode, new_customer: NewCustomer, broker_auth: list[Question], client: httpx.AsyncClient
) -> None:
    customer = await new_customer()
    for attempt in range(LIMIT + 3):
        await guess(rabbitmq, customer, f"guess-{attempt}")
    body = {"packageId": customer.package_id, "username": customer.username, "password": customer.password}
    response = await client.post("/api/livescore/package/status", json=body)
    assert response.status_code == 200, response.text
