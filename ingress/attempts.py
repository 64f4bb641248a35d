"""The brute-force limit (SPEC §2.3): tries reserved in Redis before a password is verified.

Two budgets per window: one per client address and package, one per client address for any packages
together. A login reserves a try of both in one atomic script before it is verified, so that concurrent
guesses cannot all pass a check made before any of them is counted; a login that proves right gives its
try back, so correct logins never count as failures. Redis holds the counters, so every ingress process
shares them.
"""

from redis.asyncio import Redis

from domain.errors import TooManyFailures
from domain.scripts.runner import RedisPyScripts
from domain.scripts.tries import give_back_try, reserve_try
from domain.settings import Settings
from domain.streams import auth_address_failures, auth_failures
from ingress.metrics import LOCKOUTS


class LoginAttempts:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._scripts = RedisPyScripts(redis)
        self._limits = [settings.auth_failures, settings.auth_address_failures]
        self._window_s = settings.auth_window_s

    async def reserve(self, package_id: int, client: str) -> None:
        """Counts a try against both budgets, or raises TooManyFailures when either is spent."""
        call = reserve_try(counters=_keys(package_id, client), limits=self._limits, window_s=self._window_s)
        reservation = await call.run(self._scripts)
        if not reservation.reserved:
            LOCKOUTS.inc()
            raise TooManyFailures(retry_after_s=reservation.retry_after_s)

    async def give_back(self, package_id: int, client: str) -> None:
        await give_back_try(counters=_keys(package_id, client)).run(self._scripts)


def _keys(package_id: int, client: str) -> list[str]:
    return [auth_failures(package_id, client), auth_address_failures(client)]
