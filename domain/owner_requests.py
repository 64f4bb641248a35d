"""Requests served by the incident partitions' owners: a package's initial image and its recoveries
(SPEC §12).

A fixture's scoreboard and its incidents must reach a queue in order, and only the owner of the fixture's
partition knows where in the incidents stream it is. So a request is left in Redis (streams.py:
OWNER_REQUESTS) for every owner to find in its next round; each serves its partitions at the end of a
round and marks them served. The owner that marks the sixteenth finishes the request. What is served
where is worker/owner_requests.py; this module is the bookkeeping.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import msgspec
from redis.asyncio import Redis

from domain.incidents import PARTITIONS
from domain.scripts.runner import Arg, LuaScript, RedisPyScripts
from domain.streams import (
    INCIDENT_WORKERS,
    OWNER_REQUEST_FINISHED_TTL_S,
    OWNER_REQUESTS,
    OWNER_REQUESTS_WAKE,
    OWNER_REQUESTS_WAKE_LEN,
    owner_request_done,
    owner_request_finished,
    recovery_in_flight,
)

CREATE = LuaScript.load("create_request")
MARK = LuaScript.load("mark_served")
FINISH = LuaScript.load("finish_request")


class RequestKind(StrEnum):
    # Scoreboards before the package's first incidents (activation).
    IMAGE = "image"
    # Kept incidents after `after`, then scoreboards, then a completion message.
    RECOVERY = "recovery"


class OwnerRequest(msgspec.Struct, frozen=True):
    id: str
    kind: RequestKind
    package: int
    # Milliseconds since the epoch (a recovery's `after`); None: scoreboards only.
    after: int | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    """A request as one read of the hash finds it: which partitions are served already."""

    request: OwnerRequest
    served: frozenset[int]
    # Scoreboards and incidents its served partitions sent.
    fixtures: int = 0
    incidents: int = 0

    def unserved(self, partitions: frozenset[int] | set[int]) -> list[int]:
        return sorted(p for p in partitions if p not in self.served)


@dataclass(frozen=True, slots=True)
class Served:
    """A request's totals after a partition was marked served."""

    partitions: int
    fixtures: int
    incidents: int

    @property
    def complete(self) -> bool:
        return self.partitions >= PARTITIONS


_decoder = msgspec.json.Decoder(OwnerRequest)
_encoder = msgspec.json.Encoder()


def pending_of(fields: Mapping[bytes, bytes]) -> list[Pending]:
    """The requests in the hash, each with its served partitions, oldest field first."""
    requests: dict[str, OwnerRequest] = {}
    served: dict[str, set[int]] = {}
    counts: dict[tuple[str, str], int] = {}
    for raw, value in fields.items():
        name, _, part = raw.decode().partition(":")
        if not part:
            requests[name] = _decoder.decode(value)
        elif part.isdigit():
            served.setdefault(name, set()).add(int(part))
        else:
            counts[name, part] = int(value)
    return [
        Pending(request, frozenset(served.get(rid, ())), counts.get((rid, "f"), 0), counts.get((rid, "i"), 0))
        for rid, request in requests.items()
    ]


async def read_pending(redis: Redis) -> list[Pending]:
    """Every pending request: one read, made by an owner in each round after a wake entry came, until
    it finds none."""
    fields: Any = await redis.hgetall(OWNER_REQUESTS)
    return pending_of(fields) if fields else []


async def create_request(redis: Redis, request: OwnerRequest) -> bool:
    """Leave the request for the owners; False when it is pending or was completed already."""
    keys = [OWNER_REQUESTS, owner_request_done(request.id), OWNER_REQUESTS_WAKE]
    args: list[Arg] = [request.id, _encoder.encode(request), OWNER_REQUESTS_WAKE_LEN]
    created = await RedisPyScripts(redis).run(CREATE, keys, args)
    return bool(created)


async def owners_alive(redis: Redis) -> bool:
    """Whether any worker reads incidents now (its liveness in INCIDENT_WORKERS has not run out): Redis's
    clock and the latest liveness, in one round trip."""
    pipe = redis.pipeline(transaction=False)
    pipe.time()
    pipe.zrange(INCIDENT_WORKERS, -1, -1, withscores=True)
    (seconds, micros), latest = await pipe.execute()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    return bool(latest) and latest[0][1] >= now_ms


async def mark_served(redis: Redis, request_id: str, sent: Mapping[int, tuple[int, int]]) -> Served | None:
    """Mark partitions served (each once), adding the scoreboards and incidents each sent, in one round
    trip; None when the request is gone."""
    args: list[Arg] = [request_id]
    for partition, (fixtures, incidents) in sorted(sent.items()):
        args += [partition, fixtures, incidents]
    got = await RedisPyScripts(redis).run(MARK, [OWNER_REQUESTS], args)
    return Served(*(int(n) for n in got)) if got else None


async def finish_request(redis: Redis, request: OwnerRequest) -> None:
    """Forget a request every partition served; free the package's next recovery; wake the activation
    waiting for an image."""
    keys = [OWNER_REQUESTS, recovery_in_flight(request.package), owner_request_finished(request.id)]
    signal = int(request.kind is RequestKind.IMAGE)
    args: list[Arg] = [request.id, PARTITIONS, signal, OWNER_REQUEST_FINISHED_TTL_S]
    await RedisPyScripts(redis).run(FINISH, keys, args)


async def wait_finished(redis: Redis, request_id: str, timeout_s: float) -> bool:
    """Whether the request is finished within the timeout (at once if it was already); its signal taken."""
    got = await redis.blpop([owner_request_finished(request_id)], timeout=timeout_s)
    return got is not None
