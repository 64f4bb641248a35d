"""Reading the request body in chunks, as uvicorn delivers a large one, with the 16 KiB limit."""

from typing import Any

import pytest
from litestar import Request
from litestar.exceptions import ClientException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from ingress.routes import read_body
from ingress.validation import MAX_BODY_BYTES


def request_receiving(*events: dict[str, Any]) -> Request[Any, Any, Any]:
    pending = list(events)

    async def receive() -> Any:
        return pending.pop(0)

    scope: Any = {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}
    return Request(scope, receive)


async def test_chunks_are_joined_in_order() -> None:
    request = request_receiving(
        {"type": "http.request", "body": b'{"a":', "more_body": True},
        {"type": "http.request", "body": b"", "more_body": True},
        {"type": "http.request", "body": b"1}", "more_body": False},
    )
    assert await read_body(request) == b'{"a":1}'


async def test_exactly_the_limit_is_read_and_one_byte_more_is_refused() -> None:
    half = b"x" * (MAX_BODY_BYTES // 2)
    at_limit = request_receiving(
        {"type": "http.request", "body": half, "more_body": True},
        {"type": "http.request", "body": half},
    )
    assert len(await read_body(at_limit)) == MAX_BODY_BYTES
    over = request_receiving(
        {"type": "http.request", "body": half, "more_body": True},
        {"type": "http.request", "body": half + b"x"},
    )
    with pytest.raises(RequestEntityTooLarge):
        await read_body(over)


async def test_a_client_gone_before_its_body_is_a_client_error() -> None:
    request = request_receiving(
        {"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}
    )
    with pytest.raises(ClientException):
        await read_body(request)
