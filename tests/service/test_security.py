"""Secrets at rest: password hashes, token hashes, access-key encryption."""

from __future__ import annotations

from argon2 import extract_parameters, profiles

from service.security import (
    TOKEN_PREFIX,
    AccessKeyCipher,
    hash_api_token,
    hash_password,
    new_api_token,
    password_hasher,
    verify_password,
)


def test_passwords_are_argon2_hashes() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2")
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")
    assert not verify_password("not a hash", "correct horse")


def test_only_the_test_profile_is_cheap_and_every_hash_stays_verifiable() -> None:
    """The suite's cheap hashes (tests/conftest.py) are its own: nothing else selects them."""
    for profile in (None, "", "Test", "production", "cheap"):
        hashed = password_hasher(profile).hash("correct horse")
        assert extract_parameters(hashed) == profiles.RFC_9106_LOW_MEMORY
    cheap = password_hasher("test").hash("correct horse")
    assert extract_parameters(cheap) == profiles.CHEAPEST
    assert password_hasher(None).verify(cheap, "correct horse")
    assert password_hasher("test").verify(password_hasher(None).hash("a"), "a")


def test_tokens_are_random_and_stored_as_hashes() -> None:
    first, second = new_api_token(), new_api_token()
    assert first != second and first.startswith(TOKEN_PREFIX)
    assert len(first) > 40
    assert hash_api_token(first) == hash_api_token(first) != hash_api_token(second)
    assert first not in hash_api_token(first)


def test_access_keys_round_trip_only_under_the_same_secret() -> None:
    key = "K" * 32
    cipher = AccessKeyCipher("one secret key, long enough")
    stored = cipher.encrypt(key)
    assert key not in stored
    assert cipher.encrypt(key) != stored  # fresh IV each time
    assert cipher.decrypt(stored) == key
    assert AccessKeyCipher("another secret key, also long").decrypt(stored) is None
    assert cipher.decrypt("garbage") is None
