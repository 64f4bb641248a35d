"""`livescore watch` over AMQP reads a package's two queues as its customer does: with the package's own
credentials, through the broker-auth app."""

from collections.abc import Awaitable, Callable

import pytest
from aio_pika.abc import AbstractChannel

from delivery.amqp_readers import AmqpQueueReader
from domain.delivery import QueueKind
from domain.settings import Settings
from tests.support_amqp import Customer, publish

pytestmark = pytest.mark.usefixtures("broker_auth")


async def test_the_reader_gets_both_queues_with_the_customers_own_login(
    amqp_settings: Settings,
    new_customer: Callable[..., Awaitable[Customer]],
    service: dict[str, AbstractChannel],
) -> None:
    customer = await new_customer()
    await publish(service["Fixtures"], customer.queue, b'{"fixture": 1}')
    await publish(service["Incidents"], customer.queue, b'{"incident": 1}')
    reader = AmqpQueueReader(amqp_settings, customer.package_id, customer.username, customer.password)
    try:
        received: list[tuple[QueueKind, bytes]] = []
        for _ in range(40):
            received += await reader.read(0.25)
            if len(received) == 2:
                break
    finally:
        await reader.close()
    assert sorted(received) == [
        (QueueKind.FIXTURES, b'{"fixture": 1}'),
        (QueueKind.INCIDENTS, b'{"incident": 1}'),
    ]
