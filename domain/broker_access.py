"""What a customer's AMQP login may do on the broker (SPEC §9), decided from the packages it proved.

RabbitMQ asks the broker-auth process (ingress/broker_auth.py) first whether a username and password may
log in, then, for that connection, whether it may enter a vhost and use a resource. The first answer
names, as user tags, the packages whose credentials the login presented (`allow livescore-package-123
livescore-package-456`; plain `allow` when none, refused at the vhost step); RabbitMQ keeps them with the
connection and sends them back, space-separated in the form field `tags`, with every vhost and resource
question (seen on RabbitMQ 3.10.8, tests/amqp). So each question is answered from its own fields: no
state between questions, no second verification. Tags name packages only, never anything per login:
RabbitMQ turns each into an Erlang atom, which is never freed.
"""

import re
from collections.abc import Collection, Iterable

# RabbitMQ's answers: HTTP 200 with one of these bodies; `allow` may be followed by tags (user path only).
ALLOW = "allow"
DENY = "deny"

# A tag per proven package. Not one of RabbitMQ's own tags (administrator, management, …), so a
# customer's login opens neither the management UI nor its API.
_PACKAGE_TAG = "livescore-package-{}"
# Only what `_PACKAGE_TAG` and domain.streams.amqp_queue write: ASCII digits, no sign, no leading zero,
# at most ten digits (package ids are 32-bit).
_TAG_PATTERN = re.compile(r"livescore-package-([1-9][0-9]{0,9})")
_QUEUE_PATTERN = re.compile(r"_([1-9][0-9]{0,9})_")


def allow_login(package_ids: Iterable[int]) -> str:
    """The user path's answer for a login that proved these packages: `allow` even when none, so that the
    answer does not say whether the password was right; the vhost step decides (ingress/amqp_logins.py)."""
    tags = [_PACKAGE_TAG.format(package_id) for package_id in sorted(package_ids)]
    return " ".join([ALLOW, *tags])


def proven_packages(tags: str) -> frozenset[int]:
    """The packages named by the tags RabbitMQ sends back; any other tag proves nothing."""
    matches = (_TAG_PATTERN.fullmatch(tag) for tag in tags.split())
    return frozenset(int(m.group(1)) for m in matches if m)


def may_use(
    vhost: str, resource: str, name: str, permission: str, proven: Collection[int], vhosts: Collection[str]
) -> bool:
    """Read (consume, get, purge; acknowledgements need no permission) on the queue of a proven package,
    nothing else: no configure (declare, delete; a passive declare asks nothing), no write, no exchange."""
    if vhost not in vhosts or resource != "queue" or permission != "read":
        return False
    return _package_of_queue(name) in proven


def _package_of_queue(name: str) -> int | None:
    match = _QUEUE_PATTERN.fullmatch(name)
    return int(match.group(1)) if match else None
