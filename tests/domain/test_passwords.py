"""Passwords are stored as Argon2id hashes."""

from domain.passwords import hash_password, verify_password


def test_passwords_are_hashed_with_argon2id() -> None:
    hashed = hash_password("secret")
    assert hashed.startswith("$argon2id$")
    assert "secret" not in hashed


def test_verification_accepts_only_the_password() -> None:
    hashed = hash_password("secret")
    assert verify_password(hashed, "secret")
    assert not verify_password(hashed, "Secret")
    assert not verify_password(None, "secret")
    assert not verify_password("not a hash", "secret")
