"""The OpenAPI document and /schema: an example of every answer, the headers every answer carries, and a
page that needs nothing from the internet."""

import re
from typing import Any

import httpx
import pytest

ENDPOINTS = ["snapshots/trigger", "package/activate", "package/deactivate", "package/status"]


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    answer = await client.get("/schema/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for path in document["paths"].values() for op in path.values() if "responses" in op]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_every_answer_of_every_endpoint_has_an_example(document: dict[str, Any], endpoint: str) -> None:
    responses = document["paths"][f"/api/livescore/{endpoint}"]["post"]["responses"]
    assert "200" in responses
    for code, response in responses.items():
        assert response["content"]["application/json"]["examples"], code


@pytest.mark.parametrize("path", ["/health", "/ready"])
async def test_the_operations_endpoints_have_examples_too(document: dict[str, Any], path: str) -> None:
    for code, response in document["paths"][path]["get"]["responses"].items():
        assert response["content"]["application/json"]["examples"], code


async def test_status_is_an_enum_of_active_and_inactive(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["StatusAnswer"]["properties"]["status"] == {"$ref": "#/components/schemas/PackageStatus"}
    assert sorted(schemas["PackageStatus"]["enum"]) == ["active", "inactive"]


async def test_pending_may_be_null_and_says_when(document: dict[str, Any]) -> None:
    pending = document["components"]["schemas"]["QueueFigures"]["properties"]["pending"]
    assert pending["oneOf"] == [{"type": "integer"}, {"type": "null"}]
    assert "management API is unreachable" in pending["description"]
    status = document["paths"]["/api/livescore/package/status"]["post"]["responses"]["200"]
    assert "`pending` is null" in status["description"]


async def test_every_answer_declares_x_request_id_and_429_declares_retry_after(
    document: dict[str, Any],
) -> None:
    for operation in operations(document):
        for code, response in operation["responses"].items():
            assert response["headers"]["X-Request-ID"]["required"] is True
            assert ("Retry-After" in response["headers"]) == (code == "429")
    assert any("429" in op["responses"] for op in operations(document))


async def test_ready_documents_its_503(document: dict[str, Any]) -> None:
    unavailable = document["paths"]["/ready"]["get"]["responses"]["503"]
    (example,) = unavailable["content"]["application/json"]["examples"].values()
    assert example["value"]["status"] == "unavailable"


async def test_the_schema_page_loads_nothing_from_elsewhere(client: httpx.AsyncClient) -> None:
    page = (await client.get("/schema")).text
    assert re.findall(r"""(?:src|href)=["']?([^"' >]+)""", page) == ["/static/redoc.standalone.js"]
    assert "googleapis" not in page
    script = await client.get("/static/redoc.standalone.js")
    assert script.status_code == 200
    assert script.text.startswith("/*! For license information please see redoc.standalone.js.LICENSE.txt */")


async def test_metrics_say_their_charset_once(client: httpx.AsyncClient) -> None:
    content_type = (await client.get("/metrics")).headers["content-type"]
    assert content_type == "text/plain; version=1.0.0; charset=utf-8"
