"""The brokers that carry messages to customers: one module per broker, each a domain.delivery.Delivery."""

from redis.asyncio import Redis

from domain.delivery import Delivery
from domain.settings import Settings


def open_delivery(settings: Settings, redis: Redis) -> Delivery:
    """The delivery LIVESCORE_DELIVERY names; its connections open on first use."""
    if settings.delivery == "amqp":
        from delivery.amqp import AmqpDelivery

        return AmqpDelivery(settings, redis)
    from delivery.redis_streams import RedisStreamsDelivery

    return RedisStreamsDelivery(redis, settings.queue_limit, settings.commands_maxlen)
