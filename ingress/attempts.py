"""The brute-force limit (SPEC §2.3): tries reserved in Redis before a password is verified.

Two budgets per window: one per client address and package, one per client address for any packages
together. A login reserves a try of both in one atomic script before it is verified, so that concurrent
guesses cannot all pass a check made before any of them is counted; a login that proves right gives its
try back, so correct logins never count as failures. Redis holds the counters, so every ingress process
shares them.
"""

from redis.asyncio import Redis

from domain.errors import TooManyFailures
from domain.scripts import LuaScript, RedisPyScripts
from domain.settings import Settings
from domain.streams import auth_address_failures, auth_failures
from ingress.metrics import LOCKOUTS

# KEYS: the counters; ARGV: their limits, then the window. Refuses with the seconds left in the window of
# the counter (or the later of both) already above its limit; else counts a try in each, starting its
# window if it is new. Returns 0 when the try is reserved.
_RESERVE = LuaScript("""
local retry_after = 0
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > tonumber(ARGV[i]) then
    retry_after = math.max(retry_after, redis.call('TTL', key), 1)
  end
end
if retry_after > 0 then
  return retry_after
end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[#KEYS + 1], 'NX')
end
return 0
""")

# Only a counter that still exists gives a try back: DECR would recreate one whose window has ended,
# without an expiry, and so for good.
_GIVE_BACK = LuaScript("""
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then
    redis.call('DECR', key)
  end
end
return 0
""")


class LoginAttempts:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._scripts = RedisPyScripts(redis)
        self._args = [settings.auth_failures, settings.auth_address_failures, settings.auth_window_s]

    async def reserve(self, package_id: int, client: str) -> None:
        """Counts a try against both budgets, or raises TooManyFailures when either is spent."""
        retry_after = int(await self._scripts.run(_RESERVE, _keys(package_id, client), self._args))
        if retry_after:
            LOCKOUTS.inc()
            raise TooManyFailures(retry_after_s=retry_after)

    async def give_back(self, package_id: int, client: str) -> None:
        await self._scripts.run(_GIVE_BACK, _keys(package_id, client), [])


def _keys(package_id: int, client: str) -> list[str]:
    return [auth_failures(package_id, client), auth_address_failures(client)]
