"""Where the worker works around FastStream: every patch of its behaviour in one place, each with why.

They were written against FastStream 0.7.8 and reach into its internals (a module constant, a method of
its subscription); another version may have moved or fixed what they patch, so a worker on any other
version says so once at start-up, to have each patch checked again.
"""

import logging
from importlib.metadata import version
from typing import Literal, Self

from faststream.redis import StreamSub
from faststream.redis.subscriber.usecases import basic as redis_subscribers
from faststream.redis.subscriber.usecases import stream_subscriber as stream_subscribers

log = logging.getLogger("worker")

# The FastStream release these patches were written for and checked against.
WRITTEN_FOR = "0.7.8"
# FastStream 0.7.8 waits 5 s after a failed read before reading again (a module constant; no setting), so
# after a Redis restart or failover (2–3 s behind Sentinel here) every worker stayed idle up to 5 s longer
# than Redis was away, and activations were answered 202 meanwhile. A second still keeps a Redis that
# keeps refusing from costing a busy loop.
READ_RETRY_S = 1


def apply_patches() -> None:
    """The patches that change FastStream's module state, after checking the version they were made for."""
    installed = version("faststream")
    if installed != WRITTEN_FOR:
        log.warning(
            "FastStream %s installed; worker/faststream_patches.py was written for %s: check each patch",
            installed,
            WRITTEN_FOR,
        )
    _read_again_sooner()


def _read_again_sooner() -> None:
    """FastStream's pause after a failed read, READ_RETRY_S instead of 5 s, in both modules that read it."""
    redis_subscribers.CONSUME_ERROR_BACKOFF_SECONDS = READ_RETRY_S
    stream_subscribers.CONSUME_ERROR_BACKOFF_SECONDS = READ_RETRY_S  # type: ignore[attr-defined]


class UnprefixedStream(StreamSub[Literal[True]]):
    """A stream read under its own name. FastStream 0.7.8 deep-copies the subscription to add the
    broker's prefix each time it logs a message, even when there is no prefix: tens of µs per batch."""

    def add_prefix(self, prefix: str) -> Self:
        return self if not prefix else super().add_prefix(prefix)
