"""Authentication: Argon2id once per client, then a remembered keyed hash of the password.

A successful login is remembered in this process as a keyed BLAKE2b MAC of the password (under a key
of this process only), together with the package's credential version. It is trusted only while the
Redis view still holds that version, which `livescore package set-password` replaces, so a password
change stops every remembered login at once in every ingress process.

Every request answers to the client address's failure budgets (ingress/attempts.py): a remembered login
has them checked by the same script that reads or appends for it (domain/scripts/locked.lua), so that once
a limit applies the right password gets the same 429 as a wrong one (SPEC §2.3: no oracle). A full
verification first reserves a try of them, then runs in the bounded pool, one at a time per address
(ingress/verification_pool.py).
"""

import asyncio
import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import InvalidCredentials, NotSignedIn
from domain.package_status import PackageStatus
from domain.package_view import PackageView
from domain.packages import Login, find_login
from domain.passwords import dummy_verification, verify_password
from domain.scripts.tries import Budgets
from domain.settings import Settings
from domain.storage import reading
from ingress.attempts import LoginAttempts
from ingress.metrics import ARGON2_VERIFICATIONS, AUTH_FAILURES
from ingress.validation import Credentials
from ingress.verification_pool import VerificationPool


@dataclass(frozen=True, slots=True)
class _Remembered:
    username: str
    mac: bytes
    credential_version: str


@dataclass(frozen=True, slots=True)
class LoggedIn:
    credential_version: str
    status: PackageStatus


class Authenticator:
    def __init__(self, engine: AsyncEngine, redis: Redis, view: PackageView, settings: Settings) -> None:
        self._engine = engine
        self._view = view
        self._settings = settings
        # Never leaves this process: a memory dump of one ingress reveals no reusable password digest.
        self._key = secrets.token_bytes(32)
        self._logins: OrderedDict[int, _Remembered] = OrderedDict()
        self._verifying: dict[tuple[int, str, bytes, str], asyncio.Future[Login | None]] = {}
        self._attempts = LoginAttempts(redis, settings)
        self._pool = VerificationPool(settings.verify_threads)

    def budgets(self, credentials: Credentials, client: str) -> Budgets:
        """The failure budgets this caller answers to, remembered or not (SPEC §2.3: no oracle)."""
        return self._attempts.of(credentials.package_id, client)

    def remembered(self, credentials: Credentials) -> str | None:
        """The credential version of a remembered login with these exact credentials, without any I/O."""
        entry = self._logins.get(credentials.package_id)
        if entry is None or entry.username != credentials.username:
            return None
        if not hmac.compare_digest(entry.mac, self._mac(credentials)):
            return None
        self._logins.move_to_end(credentials.package_id)
        return entry.credential_version

    async def login(self, credentials: Credentials, client: str) -> LoggedIn:
        """Full verification against storage; remembers the login and refreshes the Redis view."""
        login = await self._verify_once(credentials, client)
        if login is None:
            AUTH_FAILURES.inc()
            raise InvalidCredentials()
        status = await self._view.remember(credentials.package_id, login.state, login.credential_version)
        self._remember(credentials, login.credential_version)
        return LoggedIn(login.credential_version, status)

    async def _verify_once(self, credentials: Credentials, client: str) -> Login | None:
        """Concurrent logins with the same credentials from one address share one verification and one
        reserved try: a client opening with a burst of requests pays Argon2 once, not once per request,
        and its burst is not mistaken for guessing."""
        key = (credentials.package_id, credentials.username, self._mac(credentials), client)
        pending = self._verifying.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._verify_reserved(credentials, client))
            self._verifying[key] = pending
            pending.add_done_callback(lambda _: self._verifying.pop(key, None))
        # Shielded: one caller giving up (a client disconnecting) must not cancel the others' result.
        return await asyncio.shield(pending)

    async def _verify_reserved(self, credentials: Credentials, client: str) -> Login | None:
        """Counted before it is made, so concurrent guesses cannot slip past the limit; the try is given
        back when the credentials prove right, or when no verdict could be reached (an outage is no guess)."""
        await self._attempts.reserve(credentials.package_id, client)
        try:
            async with self._pool.turn(client):
                login = await self._verify(credentials)
        except Exception:
            await self._attempts.give_back(credentials.package_id, client)
            raise
        if login is not None:
            await self._attempts.give_back(credentials.package_id, client)
        return login

    async def _verify(self, credentials: Credentials) -> Login | None:
        async with reading(self._engine) as conn:
            login = await find_login(conn, credentials.package_id)
        if login is None:
            await self._pool.pretend(dummy_verification)
            return None
        ARGON2_VERIFICATIONS.inc()
        password_ok = await self._pool.run(verify_password, login.password_hash, credentials.password)
        if not password_ok or not _same(login.username, credentials.username):
            return None
        return login

    async def restore(self, package_id: int, credential_version: str) -> None:
        """A console session's package copy rebuilt from storage (dropped, or never made) — or NotSignedIn
        when storage no longer holds the credential version the session proved (the password changed)."""
        async with reading(self._engine) as conn:
            login = await find_login(conn, package_id)
        if login is None or not hmac.compare_digest(login.credential_version, credential_version):
            raise NotSignedIn()
        await self._view.remember(package_id, login.state, login.credential_version)

    def forget(self, package_id: int) -> None:
        self._logins.pop(package_id, None)

    def _remember(self, credentials: Credentials, credential_version: str) -> None:
        entry = _Remembered(credentials.username, self._mac(credentials), credential_version)
        self._logins[credentials.package_id] = entry
        self._logins.move_to_end(credentials.package_id)
        while len(self._logins) > self._settings.credentials_cache_size:
            self._logins.popitem(last=False)

    def _mac(self, credentials: Credentials) -> bytes:
        # Keyed BLAKE2b is a MAC in its own right, and cheaper than HMAC-SHA256 on every request.
        return hashlib.blake2b(credentials.password.encode(), key=self._key, digest_size=32).digest()


def _same(stored: str, given: str) -> bool:
    return hmac.compare_digest(stored.encode(), given.encode())
