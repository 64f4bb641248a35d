"""Every validation message of SPEC §2.1, in order, on every endpoint; JSON at its edges; wrong methods."""

from typing import Any

import httpx
import pytest

from domain.errors import InvalidPackageId, MalformedBody, MissingPassword, MissingUsername
from ingress.validation import Credentials, parse_credentials

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


# Bodies that are not JSON as RFC 8259 and I-JSON (RFC 7493) define it, though they look close.
NOT_JSON_TEXT = {
    "invalid UTF-8 in a username": b'{"packageId": 1001, "username": "\xff", "password": "x"}',
    "invalid UTF-8 in an unknown field": b'{"packageId": 1, "username": "u", "x": "\xc0\xaf"}',
    "a surrogate encoded as UTF-8": b'{"packageId": 1, "username": "\xed\xa0\x80", "password": "p"}',
    "a lone high surrogate escape in a username": rb'{"packageId": 1, "username": "\ud800", "password": "p"}',
    "a lone low surrogate escape in a password": rb'{"packageId": 1, "username": "u", "password": "\udc00"}',
    "a lone surrogate escape in a key": rb'{"packageId": 1, "username": "u", "password": "p", "\ud800": 1}',
    "a lone surrogate escape after a huge number": rb'{"packageId": 1e400, "username": "\ud800"}',
    "a raw NUL in a string": b'{"packageId": 1, "username": "u\x00", "password": "p"}',
    "a raw NUL outside strings": b'{"packageId": 1,\x00 "username": "u", "password": "p"}',
    "a byte order mark": b'\xef\xbb\xbf{"packageId": 1, "username": "u", "password": "p"}',
    "nesting deeper than the parser goes": b'{"packageId": 1, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "NaN beside a huge number": b'{"packageId": 1e400, "username": "u", "password": "p", "x": NaN}',
    "Infinity as a packageId": b'{"packageId": Infinity, "username": "u", "password": "p"}',
    "a huge number then a truncated body": b'{"packageId": 1e400, "username": "u",',
    "a huge number then trailing text": b'{"packageId": 1e400, "username": "u", "password": "p"} x',
    "a huge number in an array": b"[1e400]",
}
HUGE = b"1" + b"0" * 5000
# Numbers no float or 64-bit integer holds: the body is a JSON object, only its packageId is invalid.
UNREPRESENTABLE_PACKAGE_IDS = {
    "1e400": b"1e400",
    "-1e400": b"-1e400",
    "an integer of 5,001 digits": HUGE,
    "an integer of 4,301 digits": b"9" * 4301,
    "a negative integer of 5,001 digits": b"-" + HUGE,
    "30 digits": b"1" + b"0" * 29,
}


@pytest.mark.parametrize("body", NOT_JSON_TEXT.values(), ids=NOT_JSON_TEXT.keys())
def test_text_that_is_not_json_is_a_malformed_body(body: bytes) -> None:
    with pytest.raises(MalformedBody):
        parse_credentials(body)


@pytest.mark.parametrize(
    "number", UNREPRESENTABLE_PACKAGE_IDS.values(), ids=UNREPRESENTABLE_PACKAGE_IDS.keys()
)
def test_an_unrepresentable_package_id_is_an_invalid_package_id(number: bytes) -> None:
    with pytest.raises(InvalidPackageId):
        parse_credentials(b'{"packageId": ' + number + b', "username": "u", "password": "p"}')


def test_an_unrepresentable_package_id_is_reported_before_a_missing_username() -> None:
    with pytest.raises(InvalidPackageId):
        parse_credentials(b'{"packageId": 1e400}')


def test_unrepresentable_numbers_elsewhere_are_checked_or_ignored_like_any_value() -> None:
    with pytest.raises(MissingUsername):
        parse_credentials(b'{"packageId": 7, "username": ' + HUGE + b', "password": "p"}')
    with pytest.raises(MissingPassword):
        parse_credentials(b'{"packageId": 7, "username": "u", "password": 1e400}')
    unknown = b'{"packageId": 7, "username": "u", "password": "p", "x": [1e400, ' + HUGE + b"]}"
    assert parse_credentials(unknown) == Credentials(7, "u", "p")


def test_escaped_nul_and_paired_surrogates_are_ordinary_characters() -> None:
    body = rb'{"packageId": 7, "username": "u\u0000", "password": "\ud83d\ude00"}'
    assert parse_credentials(body) == Credentials(7, "u\x00", "\U0001f600")


def test_moderate_nesting_in_an_unknown_field_is_ignored() -> None:
    body = b'{"packageId": 7, "username": "u", "password": "p", "x": ' + b"[" * 100 + b"]" * 100 + b"}"
    assert parse_credentials(body) == Credentials(7, "u", "p")


@pytest.mark.parametrize(
    "raw",
    [NOT_JSON_TEXT["invalid UTF-8 in a username"], NOT_JSON_TEXT["nesting deeper than the parser goes"]],
    ids=["invalid UTF-8", "deep nesting"],
)
async def test_a_body_that_is_not_json_text_answers_400_not_500(
    client: httpx.AsyncClient, raw: bytes
) -> None:
    response = await client.post(ENDPOINTS[3], content=raw, headers={"content-type": "application/json"})
    assert error(response) == "Request body must be a JSON object"


@pytest.mark.parametrize("number", [b"1e400", HUGE], ids=["1e400", "5,001 digits"])
async def test_a_package_id_no_number_type_holds_answers_the_package_id_message(
    client: httpx.AsyncClient, number: bytes
) -> None:
    response = await client.post(ENDPOINTS[3], content=b'{"packageId": ' + number + b"}")
    assert error(response) == "PackageId must be a positive integer"


@pytest.mark.parametrize("username", ["u\x00", "\U0001f600"], ids=["escaped NUL", "surrogate pair"])
async def test_unusual_but_valid_characters_in_credentials_are_just_wrong_credentials(
    client: httpx.AsyncClient, package: dict[str, Any], username: str
) -> None:
    response = await client.post(ENDPOINTS[3], json={**package, "username": username, "password": username})
    assert error(response) == "Invalid package credentials"


OPERATIONS_PATHS = ["/health", "/ready", "/metrics", "/schema", "/schema/openapi.json"]


@pytest.mark.parametrize("path", ENDPOINTS + OPERATIONS_PATHS)
async def test_options_answers_405_with_an_error_body(client: httpx.AsyncClient, path: str) -> None:
    response = await client.options(path)
    assert response.status_code == 405
    assert response.json() == {"error": "Method not allowed"}
    assert "OPTIONS" not in response.headers["allow"]


@pytest.mark.parametrize("path", [*ENDPOINTS, "/health"])
async def test_head_answers_405_without_a_body(client: httpx.AsyncClient, path: str) -> None:
    response = await client.head(path)
    assert response.status_code == 405
    assert response.content == b""


async def test_a_wrong_method_names_only_the_real_methods_as_allowed(client: httpx.AsyncClient) -> None:
    assert (await client.get(ENDPOINTS[3])).headers["allow"] == "POST"
    assert (await client.delete("/health")).headers["allow"] == "GET"


@pytest.mark.parametrize("method", ["OPTIONS", "HEAD", "GET", "DELETE"])
async def test_an_unknown_path_answers_404_whatever_the_method(
    client: httpx.AsyncClient, method: str
) -> None:
    response = await client.request(method, "/api/livescore/package/explode")
    assert response.status_code == 404
    if method != "HEAD":
        assert response.json() == {"error": "Not found"}
