"""Syntax checks of a request body, in the order SPEC §2.1 fixes; the first failure is the answer."""

from dataclasses import dataclass
from typing import Any

import msgspec

from domain.errors import InvalidPackageId, MalformedBody, MissingPassword, MissingUsername

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
    data = _json_object(body)
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
    except msgspec.DecodeError:
        raise MalformedBody() from None
    if not isinstance(data, dict):
        raise MalformedBody()
    return data
