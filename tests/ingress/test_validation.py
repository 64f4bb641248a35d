"""Every validation message of SPEC §2.1, in order, on every endpoint."""

from typing import Any

import httpx
import pytest

ENDPOINTS = [
    "/api/livescore/snapshots/trigger",
    "/api/livescore/package/activate",
    "/api/livescore/package/deactivate",
    "/api/livescore/package/status",
]
VALID: dict[str, Any] = {"packageId": 123, "username": "user@example.com", "password": "secret"}

NOT_AN_OBJECT = [b"", b"{", b"[1, 2]", b'"text"', b"42", b"null", b"{'packageId': 1}", b"\xff\xfe"]
BAD_PACKAGE_IDS: list[Any] = ["123", 1.5, 1.0, True, False, 0, -1, 2147483648, None, [], {}, 10**30]
BLANK_USERNAMES: list[Any] = [None, "", "   ", "\t\n", 7, ["u"], {}, True]
EMPTY_PASSWORDS: list[Any] = [None, "", 7, ["p"], {}, False]


def without(field: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return {k: v for k, v in (body or VALID).items() if k != field}


def error(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert list(body) == ["error"]
    return str(body["error"])


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("raw", NOT_AN_OBJECT)
async def test_body_that_is_not_a_json_object_is_rejected(
    client: httpx.AsyncClient, path: str, raw: bytes
) -> None:
    response = await client.post(path, content=raw, headers={"content-type": "application/json"})
    assert error(response) == "Request body must be a JSON object"


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("package_id", BAD_PACKAGE_IDS)
async def test_package_id_must_be_a_positive_32_bit_integer(
    client: httpx.AsyncClient, path: str, package_id: Any
) -> None:
    response = await client.post(path, json={**VALID, "packageId": package_id})
    assert error(response) == "PackageId must be a positive integer"


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_missing_package_id_is_rejected_before_anything_else(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.post(path, json={})
    assert error(response) == "PackageId must be a positive integer"


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("username", BLANK_USERNAMES)
async def test_username_is_required(client: httpx.AsyncClient, path: str, username: Any) -> None:
    response = await client.post(path, json={**VALID, "username": username, "password": None})
    assert error(response) == "Username is required"


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_missing_username_is_reported_before_missing_password(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.post(path, json={"packageId": 5})
    assert error(response) == "Username is required"


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("password", EMPTY_PASSWORDS)
async def test_password_is_required(client: httpx.AsyncClient, path: str, password: Any) -> None:
    response = await client.post(path, json={**VALID, "password": password})
    assert error(response) == "Password is required"


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_missing_password_is_rejected(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path, json=without("password"))
    assert error(response) == "Password is required"


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_unknown_fields_are_ignored(
    client: httpx.AsyncClient, path: str, package: dict[str, Any]
) -> None:
    response = await client.post(path, json={**package, "extra": {"nested": [1]}, "trace": "x"})
    assert response.status_code in {200, 202, 400}
    assert response.json().get("error") in {None, "Package is inactive"}


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_body_above_16_kib_is_too_large(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path, json={**VALID, "padding": "x" * 17000})
    assert response.status_code == 413
    assert response.json() == {"error": "Request body too large"}


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_wrong_method_answers_405_with_an_error_body(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 405
    assert response.json() == {"error": "Method not allowed"}


async def test_unknown_path_answers_404_with_an_error_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/livescore/package/explode", json=VALID)
    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}
