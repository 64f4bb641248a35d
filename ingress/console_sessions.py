"""Customer console sessions (SPEC §13): a random token in an HttpOnly, SameSite=Strict cookie, naming a
hash in Redis that holds whom sign-in proved (package, username, credential version; never the password),
expiring after LIVESCORE_CONSOLE_SESSION_S. A session whose package's credential version changed (`package
set-password`) is ended the first time it is used; signing out ends it at once.
"""

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.datastructures import Cookie
from redis.asyncio import Redis

from domain.errors import ForeignOrigin, NotSignedIn
from domain.scripts.runner import text
from domain.settings import Settings
from domain.streams import console_session, package_view
from ingress.gateway import SignedIn

COOKIE = "livescore_console"
# Sent by the browser to the console's own paths only: the API and /metrics never see it.
COOKIE_PATH = "/console"
# 256 bits from the system's generator: a session cannot be guessed.
TOKEN_BYTES = 32


class ConsoleSessions:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._ttl_s = settings.console_session_s
        self._secure = not settings.console_insecure_cookie

    async def open(self, caller: SignedIn) -> Cookie:
        """A new session for a caller sign-in proved, and the cookie that names it."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        fields: list[str | int] = [
            "package",
            caller.package_id,
            "username",
            caller.username,
            "cv",
            caller.credential_version,
        ]
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(_key(token), items=fields)
        pipe.expire(_key(token), self._ttl_s)
        await pipe.execute()
        return self._cookie(token, self._ttl_s)

    async def find(self, request: Request[Any, Any, Any]) -> SignedIn:
        """The session the request's cookie names; NotSignedIn when there is none, it expired, or its
        package's password changed since (then it is ended here)."""
        token = request.cookies.get(COOKIE)
        if not token:
            raise NotSignedIn()
        package, username, version = map(
            text, await self._redis.hmget(_key(token), ["package", "username", "cv"])
        )
        if not (package and username and version):
            raise NotSignedIn()
        caller = SignedIn(int(package), username, version)
        current = text(await self._redis.hget(package_view(caller.package_id), "cv"))
        # No copy of the version (dropped, rebuilding): the gateway checks against storage instead.
        if current and not hmac.compare_digest(current.encode(), version.encode()):
            await self._redis.delete(_key(token))
            raise NotSignedIn()
        return caller

    async def end(self, request: Request[Any, Any, Any]) -> Cookie:
        """The request's session ended, and the cookie that makes the browser forget it."""
        token = request.cookies.get(COOKIE)
        if token:
            await self._redis.delete(_key(token))
        return self._cookie("", 0)

    def _cookie(self, token: str, max_age: int) -> Cookie:
        return Cookie(
            key=COOKIE,
            value=token,
            path=COOKIE_PATH,
            max_age=max_age,
            httponly=True,
            samesite="strict",
            secure=self._secure,
        )


def refuse_foreign(request: Request[Any, Any, Any]) -> None:
    """A change must come from a page of the console's own origin (SameSite=Strict aside): the browser's
    Origin header must name the host the request was sent to, and Sec-Fetch-Site, when sent, say so."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        raise ForeignOrigin()
    origin = request.headers.get("origin")
    if origin is None or urlsplit(origin).netloc != request.headers.get("host"):
        raise ForeignOrigin()


def _key(token: str) -> str:
    return console_session(hashlib.sha256(token.encode()).hexdigest())
