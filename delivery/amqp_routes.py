"""Routing keys and binding keys of the service's topic exchange (SPEC §9; docs/notes/amqp-fanout.md).

A message about a fixture is published once with the key `p{partition}.{sportId}.{leagueId}`; a heartbeat
with `heartbeat`. A package's queue is bound with `…#` when it subscribes to everything, else with one
key per sport and one per league: RabbitMQ puts one copy in a queue however many of its bindings match, so
"all football plus league 1001" never doubles a message. On the Incidents vhost the keys name the
partition (fixtureId mod 16) so that each partition's owner can open a package's share of the incidents at
the point of its stream where it published that share's scoreboards (the initial image, SPEC §12).
"""

from collections.abc import Iterable

from domain.delivery import QueueKind, Subscriptions, Topic
from domain.incidents import PARTITIONS, partition_of

HEARTBEAT_KEY = "heartbeat"


def routing_key(topic: Topic | None) -> str:
    if topic is None:
        return HEARTBEAT_KEY
    return f"p{partition_of(topic.fixture_id)}.{topic.sport_id}.{topic.league_id}"


def binding_keys(
    kind: QueueKind, subscriptions: Subscriptions, partitions: Iterable[int] = range(PARTITIONS)
) -> set[str]:
    """The keys a package's queue of this kind is bound with: on the Incidents vhost, for these partitions
    (and the heartbeat); on the Fixtures vhost, for every partition."""
    if kind is QueueKind.FIXTURES:
        return _keys("*", subscriptions)
    return {HEARTBEAT_KEY}.union(*(_keys(f"p{p}", subscriptions) for p in partitions))


def _keys(partition: str, subscriptions: Subscriptions) -> set[str]:
    if not subscriptions.sports and not subscriptions.leagues:
        return {f"{partition}.#"}
    return {f"{partition}.{sport}.*" for sport in subscriptions.sports} | {
        f"{partition}.*.{league}" for league in subscriptions.leagues
    }
