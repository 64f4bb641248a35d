"""The brokers that carry messages to customers: one module per broker, each a domain.delivery.Delivery,
with the readers of its queues. Which one is LIVESCORE_DELIVERY's choice, made here and nowhere else."""

from redis.asyncio import Redis

from domain.connections import open_redis
from domain.delivery import Delivery, QueuePeek, QueueReader
from domain.errors import NotOverThisBroker
from domain.settings import Settings


def open_delivery(settings: Settings, redis: Redis) -> Delivery:
    """The delivery LIVESCORE_DELIVERY names; its connections open on first use."""
    if settings.delivery == "amqp":
        from delivery.amqp import AmqpDelivery

        return AmqpDelivery(settings, redis)
    from delivery.redis_streams import RedisStreamsDelivery

    return RedisStreamsDelivery(redis, settings.queue_limit, settings.commands_maxlen)


def open_peek(settings: Settings, redis: Redis) -> QueuePeek:
    """An operator's read of a package's queue, nothing taken (`livescore queue read`)."""
    if settings.delivery == "amqp":
        from delivery.amqp import AmqpDelivery
        from delivery.amqp_readers import AmqpPeek

        return AmqpPeek(AmqpDelivery(settings, redis))
    from delivery.redis_streams import RedisStreamsPeek

    return RedisStreamsPeek(redis)


def open_reader(settings: Settings, package_id: int, login: tuple[str, str] | None) -> QueueReader:
    """A package's two queues read as its customer reads them (`livescore watch`): over AMQP logged in
    with the package's own `login`, which it needs (aio-pika imported only then); over Redis streams,
    on the service's Redis."""
    if settings.delivery == "amqp":
        if login is None:
            raise NotOverThisBroker(
                "over AMQP, watch reads as the customer does: give --username (and --password)"
            )
        from delivery.amqp_readers import AmqpQueueReader

        return AmqpQueueReader(settings, package_id, *login)
    from delivery.redis_streams import RedisStreamsReader

    return RedisStreamsReader(open_redis(settings.redis_address), package_id, owns_redis=True)
