"""The brute-force limit (SPEC §2.3): tries reserved in Redis before a password is verified.

Two budgets per window: one per client address and package, one per client address for any packages
together. A login reserves a try of both in one atomic script before it is verified, so that concurrent
guesses cannot all pass a check made before any of them is counted; a login that proves right gives its
try back, so correct logins never count as failures. Redis holds the counters, so every ingress process
shares them.

AMQP logins (ingress/broker_auth.py) are counted the same way in budgets of their own, per username and
client address and per client address, so that a flood of AMQP guesses never locks the Customers API.
"""

from collections.abc import Sequence

from prometheus_client import Counter
from redis.asyncio import Redis

from domain.errors import TooManyFailures
from domain.scripts.runner import RedisPyScripts
from domain.scripts.tries import Budgets, give_back_try, reserve_try
from domain.settings import Settings
from domain.streams import (
    amqp_auth_address_failures,
    amqp_auth_failures,
    auth_address_failures,
    auth_failures,
)
from ingress.metrics import AMQP_LOCKOUTS, LOCKOUTS


class FailureBudgets:
    """Counters of failed logins in Redis, each with its limit, all sharing one window."""

    def __init__(self, redis: Redis, limits: Sequence[int], window_s: int) -> None:
        self._scripts = RedisPyScripts(redis)
        self._limits, self._window_s = list(limits), window_s

    async def reserve(self, keys: Sequence[str]) -> int:
        """Counts a try against every budget and answers 0; or, when one is spent already, counts nothing
        and answers the seconds left of its window."""
        call = reserve_try(counters=keys, limits=self._limits, window_s=self._window_s)
        return (await call.run(self._scripts)).retry_after_s

    async def give_back(self, keys: Sequence[str]) -> None:
        await give_back_try(counters=keys).run(self._scripts)


class LoginAttempts:
    """The Customers API's budgets: per client address and package, and per client address."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._limits = [settings.auth_failures, settings.auth_address_failures]
        self._budgets = FailureBudgets(redis, self._limits, settings.auth_window_s)

    def of(self, package_id: int, client: str) -> Budgets:
        """The budgets a request from `client` for this package answers to, for the scripts that check
        them in the same round trip as their read or append."""
        return Budgets(_keys(package_id, client), self._limits)

    async def reserve(self, package_id: int, client: str) -> None:
        """Counts a try against both budgets, or raises TooManyFailures when either is spent."""
        refuse_if_locked(await self._budgets.reserve(_keys(package_id, client)))

    async def give_back(self, package_id: int, client: str) -> None:
        await self._budgets.give_back(_keys(package_id, client))


def refuse_if_locked(retry_after_s: int, lockouts: Counter = LOCKOUTS) -> None:
    """A budget of the caller's is spent (`retry_after_s` above 0): TooManyFailures, whatever the
    password, so that the answer tells a guesser nothing; counted in `lockouts` (API or AMQP)."""
    if retry_after_s:
        lockouts.inc()
        raise TooManyFailures(retry_after_s=retry_after_s)


def _keys(package_id: int, client: str) -> list[str]:
    return [auth_failures(package_id, client), auth_address_failures(client)]


class AmqpLoginAttempts:
    """AMQP logins' budgets, apart from the Customers API's: per username and client address, and per
    client address. The broker names the address only at the vhost step, after the password was checked
    (ingress/amqp_logins.py), so that is where a login is counted and decided."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        limits = [settings.amqp_auth_failures, settings.auth_address_failures]
        self._budgets = FailureBudgets(redis, limits, settings.auth_window_s)

    async def reserve(self, username: str, client: str) -> None:
        """Counts a try, or raises TooManyFailures when a budget of this username and address is spent."""
        refuse_if_locked(await self._budgets.reserve(_amqp_keys(username, client)), AMQP_LOCKOUTS)

    async def give_back(self, username: str, client: str) -> None:
        await self._budgets.give_back(_amqp_keys(username, client))


def _amqp_keys(username: str, client: str) -> list[str]:
    return [amqp_auth_failures(username, client), amqp_auth_address_failures(client)]
