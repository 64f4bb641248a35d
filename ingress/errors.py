"""The one mapping from errors to HTTP answers (SPEC §2.1–2.3); no handler catches anything itself."""

import logging
from collections.abc import Callable
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from domain.errors import (
    ForeignOrigin,
    InvalidCredentials,
    LivescoreError,
    NotSignedIn,
    QueueUnavailable,
    RequestRejected,
    StorageUnavailable,
    TooManyFailures,
    Unavailable,
)

log = logging.getLogger("ingress.errors")

# Where a route leaves the package id of a valid request, for a 500 to name it (SPEC §2.3). In the ASGI
# scope itself: Litestar's request.state costs an object per request.
PACKAGE_ID_KEY = "livescore.package_id"

_HTTP_MESSAGES = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    413: "Request body too large",
}


def _rejected(_: Request[Any, Any, Any], exc: RequestRejected) -> Response[Any]:
    return Response({"error": exc.message}, status_code=400)


def _too_many(_: Request[Any, Any, Any], exc: TooManyFailures) -> Response[Any]:
    return Response({"error": exc.message}, status_code=429, headers={"Retry-After": str(exc.retry_after_s)})


def _refused(status_code: int) -> Callable[[Request[Any, Any, Any], LivescoreError], Response[Any]]:
    """The console's refusals (SPEC §13): `{"error": message}` with their own status."""

    def answer(_: Request[Any, Any, Any], exc: LivescoreError) -> Response[Any]:
        return Response({"error": exc.message}, status_code=status_code)

    return answer


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    message = _HTTP_MESSAGES.get(exc.status_code) or exc.detail
    return Response({"error": message}, status_code=exc.status_code, headers=exc.headers)


def _failure(message: str) -> Callable[[Request[Any, Any, Any], Exception], Response[Any]]:
    def answer(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        return _server_error(request, exc, message)

    return answer


def _unavailable(request: Request[Any, Any, Any], exc: Unavailable) -> Response[Any]:
    return _server_error(request, exc, exc.message)


def _server_error(request: Request[Any, Any, Any], exc: Exception, message: str) -> Response[Any]:
    """SPEC's 500 body. The details (type, traceback) go to the log only; the body names what failed in
    plain words."""
    log.error("%s %s failed: %s", request.method, request.url.path, message, exc_info=exc)
    package_id = request.scope.get(PACKAGE_ID_KEY)
    return Response({"success": False, "message": message, "packageId": package_id}, status_code=500)


EXCEPTION_HANDLERS: dict[type[Exception], Callable[..., Response[Any]]] = {
    RequestRejected: _rejected,
    InvalidCredentials: _rejected,
    TooManyFailures: _too_many,
    NotSignedIn: _refused(401),
    ForeignOrigin: _refused(403),
    ValidationException: _http,
    HTTPException: _http,
    Unavailable: _unavailable,
    RedisError: _failure(QueueUnavailable.message),
    SQLAlchemyError: _failure(StorageUnavailable.message),
    Exception: _failure("Unexpected error"),
}
