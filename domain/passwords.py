"""Argon2id password hashing (SPEC §8), and the fixed cost every failed login pays."""

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults are RFC 9106's low-memory profile (t=3, m=64 MiB, p=4): tens of milliseconds
# and 64 MiB a verify (docs/BENCHMARKS.md).
# The ingress remembers successful logins, so only unknown clients and failures pay it.
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; with no hash, verify against a dummy so timing stays the same."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def dummy_verification() -> None:
    """A verification that proves nothing and takes as long as a real one."""
    verify_password(None, "a password")


@cache
def _dummy_hash() -> str:
    return _hasher.hash("a password no package has")
