"""Syntax checks of a request body, in the order SPEC §2.1 fixes; the first failure is the answer.

What counts as JSON text, where parsers differ: strict UTF-8, no byte order mark, and no lone surrogate
escape (`"\\ud800"`): I-JSON (RFC 7493) forbids them and no UTF-8 string can hold one, so such a body is
malformed rather than a credential that would fail later when encoded. Nesting deeper than the parser
goes (Python's recursion limit, about 1,000 levels; RFC 8259 §9 lets a parser limit it) is malformed
too. A number no float or 64-bit integer holds (`1e400`, 5,000 digits) is valid JSON: as a packageId it
is an invalid packageId.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec

from domain.errors import (
    AfterOutsideWindow,
    InvalidAfter,
    InvalidPackageId,
    MalformedBody,
    MissingPassword,
    MissingUsername,
)

# SPEC §2.3: larger bodies are answered 413.
MAX_BODY_BYTES = 16 * 1024
# packageId is a 32-bit signed integer upstream.
MAX_PACKAGE_ID = 2_147_483_647


@dataclass(frozen=True, slots=True)
class Credentials:
    package_id: int
    username: str
    password: str

    def __repr__(self) -> str:
        # Keeps the password out of any log line or traceback that prints the object.
        return f"Credentials(package_id={self.package_id}, username={self.username!r})"


def parse_credentials(body: bytes) -> Credentials:
    return _credentials(_json_object(body))


def parse_recovery(body: bytes) -> tuple[Credentials, object]:
    """The credentials, checked, and the `after` field as it came (None when absent), checked later: SPEC
    §12 checks it after the credentials and the package's status."""
    data = _json_object(body)
    return _credentials(data), data.get("after")


def recovery_after(value: object, now: datetime, window_hours: float) -> datetime | None:
    """A recovery's `after`: an ISO-8601 time with an offset or Z, not older than the recovery window (a
    future time is accepted); None when absent."""
    if value is None:
        return None
    try:
        after = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        after = None
    if after is None or after.tzinfo is None:
        raise InvalidAfter()
    if after < now - timedelta(hours=window_hours):
        raise AfterOutsideWindow()
    return after


def _credentials(data: dict[str, Any]) -> Credentials:
    package_id = data.get("packageId")
    # bool is a subclass of int in Python but `true` is not a JSON integer.
    if type(package_id) is not int or not 0 < package_id <= MAX_PACKAGE_ID:
        raise InvalidPackageId()
    username = data.get("username")
    if not isinstance(username, str) or not username.strip():
        raise MissingUsername()
    password = data.get("password")
    if not isinstance(password, str) or not password:
        raise MissingPassword()
    return Credentials(package_id, username, password)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = msgspec.json.decode(body)
    except msgspec.ValidationError:
        # msgspec's only complaint about untyped JSON: a number out of its range. Rare, so parsed again,
        # slowly, rather than slowing every request down.
        data = _decode_unrepresentable_numbers(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        raise MalformedBody() from None
    if not isinstance(data, dict):
        raise MalformedBody()
    return data


class _Unrepresentable:
    """A number no float or 64-bit integer holds: never a valid packageId, username or password."""


# Longer integers are far out of packageId's range; Python refuses to convert those above 4,300 digits.
_MAX_INT_DIGITS = 20
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _decode_unrepresentable_numbers(body: bytes) -> Any:
    """Python's json, made as strict as msgspec: strict UTF-8, no NaN or Infinity, no lone surrogate."""
    try:
        data = json.loads(body.decode(), parse_int=_int, parse_constant=_not_json)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise MalformedBody() from None
    if _has_lone_surrogate(data):
        raise MalformedBody()
    return data


def _int(text: str) -> int | _Unrepresentable:
    return int(text) if len(text) <= _MAX_INT_DIGITS else _Unrepresentable()


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def _has_lone_surrogate(data: Any) -> bool:
    """Python's json keeps a lone surrogate escape as a code point (a valid pair becomes one character)."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str) and _LONE_SURROGATE.search(value):
            return True
        if isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False
