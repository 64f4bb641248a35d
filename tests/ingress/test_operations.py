"""Operations endpoints and what operators read: /health, /ready, /metrics, request ids, logs."""

import json
import logging
from typing import Any
from unittest.mock import ANY

import httpx
import pytest
from litestar import Litestar

from domain.logs import ContextFilter, JsonFormatter
from domain.settings import Settings
from ingress.app import create_app
from tests.support import STATUS, asgi_client, hold


async def test_health_answers_while_the_process_runs(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_redis_and_storage_answer(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    answer = response.json()
    server = settings.redis_url.removeprefix("redis://").partition("/")[0]
    assert answer.pop("redisPrimary") == {"pool": server, "commands": server}
    assert answer == {"status": "ready", "redis": "ok", "storage": "ok", "delivery": "ok"}


async def test_not_ready_without_storage(settings: Settings, tmp_path: Any) -> None:
    app = create_app(
        Settings(redis_url=settings.redis_url, database_url=f"sqlite+aiosqlite:///{tmp_path}/x/y.db")
    )
    async for _ in hold(app.lifespan()):
        async with asgi_client(app) as client:
            response = await client.get("/ready")
    assert response.status_code == 503
    expected = {"status": "unavailable", "redis": "ok", "storage": "unreachable", "delivery": "ok"}
    assert response.json() == {**expected, "redisPrimary": ANY}


async def test_metrics_count_requests_by_endpoint_and_status(
    client: httpx.AsyncClient, package: dict[str, Any]
) -> None:
    await client.post(STATUS, json=package)
    await client.post(STATUS, json={**package, "password": "wrong"})
    text = (await client.get("/metrics")).text
    assert 'livescore_http_requests_total{endpoint="/api/livescore/package/status",status="200"}' in text
    assert 'livescore_http_requests_total{endpoint="/api/livescore/package/status",status="400"}' in text
    assert "livescore_auth_failures_total" in text
    assert "livescore_http_request_duration_seconds_bucket" in text


async def test_every_answer_carries_a_request_id(client: httpx.AsyncClient) -> None:
    first = await client.post(STATUS, json={})
    given = await client.post(STATUS, json={}, headers={"X-Request-ID": "trace-42"})
    assert len(first.headers["x-request-id"]) == 36
    assert given.headers["x-request-id"] == "trace-42"


@pytest.mark.parametrize(
    "given",
    [b"!", b"~" * 64, b"0b9d-4f1c:trace/7?x=1"],
    ids=["one character", "64 characters", "punctuation"],
)
async def test_a_request_id_of_visible_ascii_is_echoed(client: httpx.AsyncClient, given: bytes) -> None:
    response = await client.get("/health", headers={b"X-Request-ID": given})
    assert response.headers.raw[-1] == (b"x-request-id", given)


@pytest.mark.parametrize(
    "given",
    ["é".encode(), "日本".encode(), b"\xe9", b"a b", b"tab\t", b"del\x7f", b"x" * 65, b""],
    ids=["UTF-8", "UTF-8 CJK", "Latin-1", "space", "tab", "DEL", "65 characters", "empty"],
)
async def test_a_request_id_outside_visible_ascii_is_replaced_by_a_generated_one(
    client: httpx.AsyncClient, given: bytes
) -> None:
    response = await client.get("/health", headers={b"X-Request-ID": given})
    name, value = response.headers.raw[-1]
    assert name == b"x-request-id"
    assert value != given
    assert len(value) == 36
    assert value.isascii()


async def test_log_lines_about_a_request_carry_its_id(
    app: Litestar,
    client: httpx.AsyncClient,
    package: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def explode(*_: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(app.state.gateway.auth, "login", explode)
    caplog.handler.addFilter(ContextFilter())
    with caplog.at_level(logging.ERROR):
        response = await client.post(STATUS, json=package, headers={"X-Request-ID": "req-7"})
    records = [r for r in caplog.records if r.name == "ingress.errors"]
    assert records
    assert all(getattr(r, "request_id", None) == "req-7" for r in records)
    assert response.headers["x-request-id"] == "req-7"


def test_json_log_lines_are_one_object_with_the_context() -> None:
    record = logging.LogRecord("worker.commands", logging.INFO, __file__, 1, "applied %s", ("x",), None)
    record.command_id = "c-1"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "applied x"
    assert line["command_id"] == "c-1"
    assert line["level"] == "info"
