"""AMQP logins: which packages a username and password prove, for the broker-auth process.

An AMQP login names a username, not a package: the password is verified (Argon2id, in the bounded pool
of ingress/verification_pool.py, as for the Customers API) against every package with that username, and
the login proves exactly those it matches. An unknown username pays one verification against a dummy
hash, so it looks like a wrong password.

RabbitMQ asks twice per new login (once to authenticate, once to authorise; seen on 3.10.8), and again
whenever its cache expires. So a successful login is remembered in this process, as a keyed BLAKE2b MAC
of the password under a key of this process only, beside the id and credential version of every package
that had the username when it was verified. It is trusted only while storage still shows exactly those
packages and versions: `package set-password` (a new version) or a package added or removed under the
username sends the next login back to a full verification.

A full verification first reserves a try of the username's AMQP budget (ingress/attempts.py): beyond the
limit, logins are refused without verifying, except remembered ones.
"""

import asyncio
import hashlib
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.packages import PackageSecret, secrets_of_username
from domain.passwords import dummy_verification, verify_password
from domain.settings import Settings
from domain.storage import reading
from ingress.attempts import AmqpLoginAttempts
from ingress.metrics import ARGON2_VERIFICATIONS
from ingress.verification_pool import VerificationPool

# The packages (id, credential version) a username had when a login was verified.
Versions = frozenset[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class _Proof:
    versions: Versions
    proven: frozenset[int]


class AmqpLogins:
    def __init__(self, engine: AsyncEngine, redis: Redis, settings: Settings) -> None:
        self._engine = engine
        # Never leaves this process: a memory dump reveals no reusable password digest.
        self._key = secrets.token_bytes(32)
        self._proofs: OrderedDict[tuple[str, bytes], _Proof] = OrderedDict()
        self._size = settings.credentials_cache_size
        self._attempts = AmqpLoginAttempts(redis, settings)
        self._pool = VerificationPool(settings.verify_threads)

    async def prove(self, username: str, password: str) -> frozenset[int]:
        """The packages these credentials are the credentials of (none: refuse the login).

        Raises TooManyFailures when the username's budget is spent and the login is not remembered."""
        if not username or not password:
            return frozenset()  # no package has an empty username or password (`package add` refuses them)
        key = (username, self._mac(password))
        async with reading(self._engine) as conn:
            packages = await secrets_of_username(conn, username)
        versions = frozenset((p.package_id, p.credential_version) for p in packages)
        if (proven := self._recall(key, versions)) is not None:
            return proven
        # One verification at a time per username: the same login arriving on many connections at once is
        # verified once, and the rest find it remembered.
        async with self._pool.turn(username):
            if (proven := self._recall(key, versions)) is not None:
                return proven
            proven = await self._verify_reserved(username, password, packages)
        if proven:
            self._remember(key, _Proof(versions, proven))
        return proven

    async def _verify_reserved(
        self, username: str, password: str, packages: list[PackageSecret]
    ) -> frozenset[int]:
        """Counted before it is made; the try is given back when the login proves a package, or when no
        verdict could be reached."""
        await self._attempts.reserve(username)
        try:
            proven = await self._verify(password, packages)
        except Exception:
            await self._attempts.give_back(username)
            raise
        if proven:
            await self._attempts.give_back(username)
        return proven

    async def _verify(self, password: str, packages: list[PackageSecret]) -> frozenset[int]:
        if not packages:
            await self._pool.pretend(dummy_verification)
            return frozenset()
        ARGON2_VERIFICATIONS.inc(len(packages))
        verdicts = await asyncio.gather(
            *(self._pool.run(verify_password, p.password_hash, password) for p in packages)
        )
        return frozenset(p.package_id for p, ok in zip(packages, verdicts, strict=True) if ok)

    def _recall(self, key: tuple[str, bytes], versions: Versions) -> frozenset[int] | None:
        proof = self._proofs.get(key)
        if proof is None or proof.versions != versions:
            return None
        self._proofs.move_to_end(key)
        return proof.proven

    def _remember(self, key: tuple[str, bytes], proof: _Proof) -> None:
        self._proofs[key] = proof
        self._proofs.move_to_end(key)
        while len(self._proofs) > self._size:
            self._proofs.popitem(last=False)

    def _mac(self, password: str) -> bytes:
        return hashlib.blake2b(password.encode(), key=self._key, digest_size=32).digest()
