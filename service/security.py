"""Secrets at rest: argon2 password hashes, API token hashes, access-key encryption.

Nothing here logs, and nothing returns a secret in a form that could be logged by accident.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from functools import cache, lru_cache

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_PREFIX = "sb_"
# The test suite's switch to argon2's cheapest parameters (tests/conftest.py sets it; the
# production profile cost half of a web-test run). Not a setting: no .env file, no default
# and no other value selects it, so a deployment cannot pick it up by accident. Either way a
# hash records its own parameters, so every stored hash stays verifiable.
HASH_PROFILE_ENV = "SCRIPTBOTS_PASSWORD_HASH_PROFILE"
DECRYPTED_KEPT = 4096  # access keys and secrets, by their stored (encrypted) form


def password_hasher(profile: str | None) -> PasswordHasher:
    """argon2-cffi's default (RFC 9106's low-memory profile) unless ``profile`` is "test"."""
    if profile == "test":
        return PasswordHasher.from_parameters(profiles.CHEAPEST)
    return PasswordHasher()


@cache
def _passwords() -> PasswordHasher:
    """Chosen at the first hash, so that the test suite's conftest can set the variable."""
    return password_hasher(os.environ.get(HASH_PROFILE_ENV))


def hash_password(password: str) -> str:
    return _passwords().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _passwords().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_api_token() -> str:
    """A fresh API token, shown to its creator once; only its hash is stored."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_api_token(token: str) -> str:
    """SHA-256 suffices: tokens carry 256 random bits, so there is nothing to brute-force."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class AccessKeyCipher:
    """Encrypts Poe access keys with a Fernet key derived from SECRET_KEY."""

    def __init__(self, secret_key: str) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"scriptbots access key"
        ).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        # Every query decrypts its script's key and secrets: once per stored value is enough.
        self._decrypted = lru_cache(maxsize=DECRYPTED_KEPT)(self._decrypt)

    def encrypt(self, access_key: str) -> str:
        return self._fernet.encrypt(access_key.encode()).decode("ascii")

    def decrypt(self, stored: str) -> str | None:
        """The access key, or None when it was encrypted under another SECRET_KEY."""
        return self._decrypted(stored)

    def _decrypt(self, stored: str) -> str | None:
        try:
            return self._fernet.decrypt(stored.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            return None
