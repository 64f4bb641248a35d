"""AMQP logins, for the broker-auth process: which packages a username and password prove, and whether
the login may enter a vhost from its client address.

RabbitMQ's HTTP auth backend asks two questions of a new connection (RabbitMQ 3.10): the user path with
the username and password only, then the vhost path with the username, the client's address and the
tags the user path answered. So the password is checked at the first, and the login is decided at the
second, where the address is known (SPEC §2.3; docs/SECURITY.md):

- The user path verifies the password (Argon2id, in the bounded pool of ingress/verification_pool.py,
  one verification at a time per username) against every package with that username, and always answers
  `allow`, tagged with the packages it proved (domain/broker_access.py). Neither its answer nor its time
  depends on the password being right: there is no remembered login to make a right one faster, and an
  unknown username waits as long as a verification takes. A guesser learns nothing from it.
- The vhost path reserves a try of the (username, address) and address budgets (ingress/attempts.py),
  then lets in a login that proved a package and gives the try back; a login that proved none keeps its
  try counted and is refused. Once a budget is spent, every login of that username from that address is
  refused, with the right password or a wrong one, and a customer at another address is not affected.

RabbitMQ's auth cache is not used (domain/broker_config.py): a cached `allow` answers the right password
at once and a wrong one after a verification, which is the oracle this design avoids.
"""

import asyncio

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.packages import PackageSecret, secrets_of_username
from domain.passwords import dummy_verification, verify_password
from domain.settings import Settings
from domain.storage import reading
from ingress.attempts import AmqpLoginAttempts
from ingress.metrics import ARGON2_VERIFICATIONS
from ingress.verification_pool import VerificationPool

# How RabbitMQ writes an IPv4 client on a dual-stack listener; the bare address names the same client.
_MAPPED_IPV4 = "::ffff:"


class AmqpLogins:
    def __init__(self, engine: AsyncEngine, redis: Redis, settings: Settings) -> None:
        self._engine = engine
        self._attempts = AmqpLoginAttempts(redis, settings)
        self._pool = VerificationPool(settings.verify_threads)

    async def prove(self, username: str, password: str) -> frozenset[int]:
        """The packages these credentials are the credentials of (none: the login proves nothing, which
        the vhost step refuses and counts)."""
        if not username or not password:
            return frozenset()  # no package has an empty username or password (`package add` refuses them)
        async with reading(self._engine) as conn:
            packages = await secrets_of_username(conn, username)
        if not packages:
            await self._pool.pretend(dummy_verification)
            return frozenset()
        async with self._pool.turn(username):
            return await self._verify(password, packages)

    async def may_enter(self, username: str, client: str, proven: frozenset[int]) -> bool:
        """Whether a login that proved `proven` enters from `client`; counted as a failure when it proved
        nothing. Raises TooManyFailures when a budget of this username and address is spent."""
        client = client.removeprefix(_MAPPED_IPV4) or "unknown"
        await self._attempts.reserve(username, client)
        if not proven:
            return False
        await self._attempts.give_back(username, client)
        return True

    async def _verify(self, password: str, packages: list[PackageSecret]) -> frozenset[int]:
        ARGON2_VERIFICATIONS.inc(len(packages))
        verdicts = await asyncio.gather(
            *(self._pool.run(verify_password, p.password_hash, password) for p in packages)
        )
        return frozenset(p.package_id for p, ok in zip(packages, verdicts, strict=True) if ok)
