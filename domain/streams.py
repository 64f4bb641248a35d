"""Every Redis key and stream name the service uses, and the AMQP queue names, in one place.

Each name is part of the contract with operators (and, for the fixtures queues, with customers), so none
of them is built anywhere else.
"""

import hashlib

# The log of every change; the ingress appends, the workers read it through one consumer group.
COMMANDS_STREAM = "livescore:commands"
# Set by a worker just before it asks Redis (WAIT) whether replicas hold the commands it read: WAIT counts
# what the asking connection itself wrote, so it needs a write made after the read (worker/replication.py).
REPLICATION_MARK = "livescore:replication-mark"
# One group shared by every worker process, so that each command is handled by exactly one of them.
WORKERS_GROUP = "livescore-workers"
# Commands that failed LIVESCORE_MAX_DELIVERIES times, kept with their error for `livescore dead`.
DEAD_LETTERS_STREAM = "livescore:commands:dead"
# Fixture changes from the feed, one fixture per entry (SPEC §4).
FIXTURE_UPDATES_STREAM = "livescore:fixture-updates"
# Incidents from the feed, one per entry (SPEC §10). Read without a consumer group: each partition's
# owner reads it from that partition's own offset, so that a fixture's incidents keep their order.
INCIDENTS_STREAM = "livescore:incidents"
# Incidents that cannot be delivered (malformed, or their fixture never came), with the reason.
INCIDENT_DEAD_LETTERS_STREAM = "livescore:incidents:dead"
# Per partition (field: its number), the id of the incidents-stream entry up to which every entry of that
# partition is handled: where its next owner starts reading.
INCIDENT_OFFSETS = "livescore:incidents:offsets"
# The workers reading incidents (a sorted set, scored by when each one's liveness runs out), so that each
# takes about its fair share of the partitions and a dead one drops out by itself.
INCIDENT_WORKERS = "livescore:incidents:workers"
# AMQP publishing batches in flight (a sorted set scored by when each registered, Redis's clock): a
# deactivation waits for those registered before it (domain/scripts/fence.py).
PUBLISHING_BATCHES = "livescore:amqp:publishing"
# The service's own AMQP exchange on each vhost (SPEC §9: a message for many packages is published once
# and the broker copies it into each bound queue); customers never see it (their permissions name only
# their queues). Not a Redis key.
AMQP_EXCHANGE = "livescore"


def fixtures_queue(package_id: int) -> str:
    """A package's own fixtures queue, which the customer reads with any Redis client."""
    return f"livescore:fixtures:{package_id}"


def incidents_queue(package_id: int) -> str:
    """A package's own incidents queue (SPEC §10), read like its fixtures queue."""
    return f"livescore:incidents:{package_id}"


def incident_lease(partition: int) -> str:
    """Which worker owns an incidents partition (its consumer name), for as long as it renews the lease."""
    return f"livescore:incidents:lease:{partition}"


def incidents_parked(partition: int) -> str:
    """A partition's incidents waiting for their fixture (a stream, each under its own incidents-stream id,
    fields `message`, `fixture`, `since`): in Redis so that a burst costs no worker memory and a new owner
    finds them (domain/incident_order.py)."""
    return f"livescore:incidents:parked:{partition}"


def incidents_parked_fixtures(partition: int) -> str:
    """Per fixture of a partition (a hash), how many of its incidents are parked: a later incident of such a
    fixture waits behind them even when they are beyond what the owner keeps in memory."""
    return f"livescore:incidents:parked-fixtures:{partition}"


def incidents_delivered(partition: int) -> str:
    """Per fixture of a partition (a hash), the stream id of its last incident delivered past the
    partition's offset: an entry held back (its fixture unknown yet) kept the offset behind while later
    entries of other fixtures went out, and a new owner must not send those again. Written only by workers
    from before parking (incidents_parked); read and dropped by the owner once its offset passes it."""
    return f"livescore:incidents:delivered:{partition}"


def interval_turn(duty: str, interval: int) -> str:
    """Set by the one worker that sends a keep-alive or heartbeat round of this interval number."""
    return f"livescore:{duty}:{interval}"


def last_round(duty: str) -> str:
    """When the last keep-alive or heartbeat round went out (the start of its interval, ms on Redis's
    clock): the customer console's "feed quiet" sign reads the service's own heartbeat from it."""
    return f"livescore:last-round:{duty}"


def console_session(digest: str) -> str:
    """A customer console session (a hash: package id, username, the credential version proved at sign-in),
    expiring with LIVESCORE_CONSOLE_SESSION_S. Named by a digest of the cookie's token, not the token: a
    look at Redis shows no cookie a browser could present."""
    return f"livescore:console-session:{digest}"


def package_view(package_id: int) -> str:
    """The worker-maintained copy of a package's status and credential version (a hash).

    The ingress reads it on every request instead of SQL; it is rebuilt from storage when missing.
    """
    return f"livescore:package:{package_id}"


def package_view_pattern() -> str:
    """Matches every package's copy (SCAN), to drop those of packages storage no longer holds."""
    return package_view(0).removesuffix("0") + "*"


def package_id_of_view(key: bytes | str) -> int:
    text = key.decode() if isinstance(key, bytes) else key
    return int(text.rsplit(":", 1)[1])


def snapshot_in_flight(package_id: int) -> str:
    """The requestId of the package's queued or running snapshot, so that triggers coalesce."""
    return f"livescore:snapshot:{package_id}"


def recovery_in_flight(package_id: int) -> str:
    """The requestId of the package's queued or running recovery, so that triggers coalesce (as snapshots
    do); freed when the recovery's completion is sent."""
    return f"livescore:recovery:{package_id}"


# The requests served by the incident partitions' owners (an initial image, a recovery; SPEC §12), in one
# hash that every owner reads once a round: field `{id}` holds the request, `{id}:{partition}` marks a
# partition served, `{id}:n`, `{id}:f`, `{id}:i` count partitions, scoreboards and incidents sent. In
# Redis, not in a worker's memory, so that a partition whose owner dies is served by the next owner.
OWNER_REQUESTS = "livescore:owner-requests"
# A new request also appends to this short stream, which the owners read along with the incidents: an
# owner blocked in XREAD on a quiet stream wakes at once, and an activation's 200 waits for its image
# (SPEC §12) a round trip, not a poll interval (LIVESCORE_WORKER_POLL_MS).
OWNER_REQUESTS_WAKE = "livescore:owner-requests:wake"
# The wake stream keeps this many entries: only the newest id matters to a reader.
OWNER_REQUESTS_WAKE_LEN = 64


def owner_request_finished(request_id: str) -> str:
    """A list that gets one element when an initial image is finished, for the activation waiting on it to
    wake at once (BLPOP) rather than poll; it expires by itself should nobody wait."""
    return f"livescore:owner-request-finished:{request_id}"


# How long a finished image's signal stays for an activation that was not waiting yet.
OWNER_REQUEST_FINISHED_TTL_S = 60


def owner_request_done(request_id: str) -> str:
    """Set when a recovery's completion (MessageType 101) is sent: sent once, and the request never
    started again by a redelivered command."""
    return f"livescore:owner-request-done:{request_id}"


def reply_channel(ingress_id: str) -> str:
    """The Pub/Sub channel on which one ingress process hears the outcomes of its commands."""
    return f"livescore:replies:{ingress_id}"


def auth_failures(package_id: int, client: str) -> str:
    """Failed authentications of one client address against one package within the window, counted
    before verifying: a verification in flight holds a try until it proves right."""
    return f"livescore:auth-failures:{package_id}:{client}"


def auth_address_failures(client: str) -> str:
    """Failed authentications of one client address against any packages within the window, counted
    like `auth_failures`.

    A prefix of its own: an IPv6 address has colons, so under the per-package prefix it could read as
    another package's key.
    """
    return f"livescore:auth-address-failures:{client}"


def amqp_auth_failures(username: str, client: str) -> str:
    """Failed AMQP logins with one username from one client address within the window, counted at the
    vhost step (the first of RabbitMQ's questions that names the address) before it answers. The
    username is hashed: it is whatever a client sent, of any length and characters. A prefix of its own,
    so AMQP guesses never spend a Customers API budget."""
    return f"livescore:amqp-auth-failures:{_digest(username)}:{client}"


def amqp_auth_address_failures(client: str) -> str:
    """Failed AMQP logins from one client address with any usernames within the window, counted like
    `amqp_auth_failures`."""
    return f"livescore:amqp-auth-address-failures:{client}"


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def package_of_queue(name: str) -> int | None:
    """The package whose AMQP queue this is (`_123_` → 123); None for any other name."""
    digits = name[1:-1] if len(name) > 2 and name[0] == name[-1] == "_" else ""
    return int(digits) if digits.isdigit() else None


def amqp_bindings(package_id: int) -> str:
    """The bindings made for a package's queues to AMQP_EXCHANGE (a set of "vhost kind|routing key"):
    what a deactivation removes, without asking the management API. The broker's own list is the truth
    that a worker's start brings this record back in line with."""
    return f"livescore:amqp:bindings:{package_id}"


def amqp_binding_lock(package_id: int) -> str:
    """Held while a package's bindings are changed: two workers applying an activation and a deactivation
    of it one after the other leave the bindings its final status asks for, never the other's."""
    return f"livescore:amqp:binding-lock:{package_id}"


def amqp_queue(package_id: int) -> str:
    """A package's queue on each of the AMQP vhosts (SPEC §9), named as the upstream feed names it; not
    a Redis key, but a name customers' consumers are written against."""
    return f"_{package_id}_"


def snapshot_progress(request_id: str) -> str:
    """How far a snapshot got (last fixture id sent, fixtures sent), so a worker taking over resumes."""
    return f"livescore:snapshot-progress:{request_id}"


def sent_once(name: str) -> str:
    """Set when a parcel named to be sent once (domain.delivery.Parcel.once: a snapshot's completion) is
    sent, by whichever delivery sent it, so it is not sent again when its command is delivered again."""
    return f"livescore:sent-once:{name}"


def queue_full(package_id: int) -> str:
    """Set when the service enqueued the deactivation of a package whose queue overflowed, to the stream id
    of the activation it ended, so that it is enqueued once per activation, not once per message that did
    not fit (and not never again after the customer activates the package anew)."""
    return f"livescore:queue-full:{package_id}"


# The last error of each command entry that failed, by entry id, so that a dead letter can say why.
COMMAND_ERRORS = "livescore:commands:errors"
