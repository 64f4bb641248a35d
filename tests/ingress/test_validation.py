"""SPEC §2.1's checks of a request body, in order; the first failing one is the answer.

`parse_credentials` is a pure function: every case is tested on it directly. Through the whole app, each
message is checked once per endpoint, with the body that takes the riskiest path to it; then what only
the app decides (413, 404, 405, unknown fields).
"""

import json
from typing import Any

import httpx
import pytest

from domain.errors import (
    InvalidPackageId,
    MalformedBody,
    MissingPassword,
    MissingUsername,
    RequestRejected,
)
from ingress.validation import Credentials, parse_credentials
from tests.support import ACTIVATE, DEACTIVATE, PACKAGE_ID, STATUS, TRIGGER, USERNAME

ENDPOINTS = [TRIGGER, ACTIVATE, DEACTIVATE, STATUS]
VALID: dict[str, Any] = {"packageId": 123, "username": "user@example.com", "password": "secret"}

NOT_AN_OBJECT = [b"", b"{", b"[1, 2]", b'"text"', b"42", b"null", b"{'packageId': 1}", b"\xff\xfe"]
BAD_PACKAGE_IDS: list[Any] = ["123", 1.5, 1.0, True, False, 0, -1, 2147483648, None, [], {}, 10**30]
BLANK_USERNAMES: list[Any] = [None, "", "   ", "\t\n", 7, ["u"], {}, True]
EMPTY_PASSWORDS: list[Any] = [None, "", 7, ["p"], {}, False]


def parsing(body: dict[str, Any]) -> Credentials:
    """The body as a client's JSON library writes it, parsed."""
    return parse_credentials(json.dumps(body).encode())


def without(field: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return {k: v for k, v in (body or VALID).items() if k != field}


@pytest.mark.parametrize("raw", NOT_AN_OBJECT)
def test_a_body_that_is_not_a_json_object_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedBody):
        parse_credentials(raw)


@pytest.mark.parametrize("package_id", BAD_PACKAGE_IDS)
def test_a_package_id_must_be_a_positive_32_bit_integer(package_id: Any) -> None:
    with pytest.raises(InvalidPackageId):
        parsing({**VALID, "packageId": package_id})


def test_a_missing_package_id_is_reported_before_anything_else() -> None:
    with pytest.raises(InvalidPackageId):
        parsing({})


@pytest.mark.parametrize("username", BLANK_USERNAMES)
def test_a_username_is_required_before_a_password(username: Any) -> None:
    with pytest.raises(MissingUsername):
        parsing({**VALID, "username": username, "password": None})


def test_a_missing_username_is_reported_before_a_missing_password() -> None:
    with pytest.raises(MissingUsername):
        parsing({"packageId": 5})


@pytest.mark.parametrize("password", EMPTY_PASSWORDS)
def test_a_password_is_required(password: Any) -> None:
    with pytest.raises(MissingPassword):
        parsing({**VALID, "password": password})


def test_a_missing_password_is_reported() -> None:
    with pytest.raises(MissingPassword):
        parsing(without("password"))


def test_the_largest_package_id_and_a_username_with_spaces_inside_are_valid() -> None:
    body = {"packageId": 2147483647, "username": " a b ", "password": " "}
    assert parsing(body) == Credentials(2147483647, " a b ", " ")


def test_unknown_fields_are_ignored() -> None:
    assert parsing({**VALID, "extra": {"nested": [1]}, "trace": "x"}) == Credentials(
        123, "user@example.com", "secret"
    )


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


# One body per message, each the riskiest way to it: nesting deeper than the parser goes (a RecursionError
# inside the parser), and a number no float or 64-bit integer holds (parsed a second, slower way).
DEEP_NESTING = b'{"packageId": 1, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
ONE_BODY_PER_MESSAGE = {
    MalformedBody: DEEP_NESTING,
    InvalidPackageId: b'{"packageId": 1e400, "username": "u", "password": "p"}',
    MissingUsername: b'{"packageId": 7, "username": "  ", "password": "p"}',
    MissingPassword: b'{"packageId": 7, "username": "u"}',
}


def error(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert list(body) == ["error"]
    return str(body["error"])


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    ("rejection", "raw"), ONE_BODY_PER_MESSAGE.items(), ids=[e.__name__ for e in ONE_BODY_PER_MESSAGE]
)
async def test_each_message_is_answered_400_by_every_endpoint(
    client: httpx.AsyncClient, path: str, rejection: type[RequestRejected], raw: bytes
) -> None:
    response = await client.post(path, content=raw, headers={"content-type": "application/json"})
    assert error(response) == rejection.message


# With a worker running and the package inactive, each endpoint's one right answer.
ANSWER_WITH_UNKNOWN_FIELDS = {
    TRIGGER: (400, {"error": "Package is inactive"}),
    ACTIVATE: (200, {"message": "Package activation completed successfully"}),
    DEACTIVATE: (200, {"message": "Package is already inactive"}),
    STATUS: (200, {"status": "inactive"}),
}


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize("path", ENDPOINTS)
async def test_unknown_fields_change_no_answer(
    client: httpx.AsyncClient, path: str, package: dict[str, Any]
) -> None:
    response = await client.post(path, json={**package, "extra": {"nested": [1]}, "trace": "x"})
    status_code, expected = ANSWER_WITH_UNKNOWN_FIELDS[path]
    assert response.status_code == status_code, response.text
    answer = response.json()
    assert {key: answer[key] for key in expected} == expected
    if status_code == 200:
        assert (answer["packageId"], answer["username"]) == (PACKAGE_ID, USERNAME)


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
