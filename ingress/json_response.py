"""Answers of the four endpoints sent straight to ASGI, encoded once by msgspec.

Litestar's own response path (`Response` → `to_asgi_response` → `ASGIResponse`, with its header,
cookie and background-task handling) was a visible share of a status request's CPU (docs/BENCHMARKS.md). These
endpoints answer a small JSON body with no cookie, header or background task, so `JSONAnswer` keeps
Litestar's typing (the OpenAPI document still shows each body's schema, through `Response[T]`) and its
ASGI response sends the two messages itself. Operations endpoints and error answers keep Litestar's path.
"""

from typing import Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.response.base import ASGIResponse
from litestar.types import Receive, Scope, Send

T = TypeVar("T")

_CONTENT_TYPE = (b"content-type", b"application/json")


class JSONAnswer(Response[T]):
    def to_asgi_response(self, app: Any, request: Request[Any, Any, Any], **_: Any) -> ASGIResponse:
        return _Encoded(msgspec.json.encode(self.content), self.status_code or 200)


class _Encoded(ASGIResponse):
    """An ASGIResponse by type; by behaviour, the start message with two headers, then the body."""

    __slots__ = ("_status",)

    def __init__(self, body: bytes, status: int) -> None:
        # No super().__init__(): of ASGIResponse's state, only the body is used, by __call__ below.
        self.body, self._status = body, status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [_CONTENT_TYPE, (b"content-length", b"%d" % len(self.body))]
        await send({"type": "http.response.start", "status": self._status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})
