"""The web pages' session: a signed cookie naming the creator, with the CSRF token of its forms.

The cookie holds no secret, only a creator id with the creator's session version (raised by
logout and password change, which so end every copy of every session of the creator), a
random CSRF token and a one-shot notice, signed (itsdangerous) with a key derived from
SECRET_KEY, so every replica reads it and nothing about a session lives in one process. A
cookie that fails its signature or is older than ``MAX_AGE_S`` is treated as absent: the
visitor is simply logged out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

COOKIE_NAME = "scriptbots_session"
MAX_AGE_S = 14 * 24 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_SALT = "scriptbots.web-session.v1"


@dataclass
class WebSession:
    """One visitor's session; ``changed`` tells the page code to send the cookie again."""

    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    creator_id: int | None = None
    # The creator's session_version at login: a session of an older version is over.
    version: int = 0
    notice: str | None = None
    changed: bool = False

    def log_in(self, creator_id: int, version: int) -> None:
        # A new CSRF token at each login: a token seen before the login is worth nothing after.
        self.creator_id = creator_id
        self.version = version
        self.csrf_token = secrets.token_urlsafe(32)
        self.changed = True

    def log_out(self) -> None:
        self.creator_id = None
        self.version = 0
        self.csrf_token = secrets.token_urlsafe(32)
        self.notice = None
        self.changed = True

    def tell(self, notice: str) -> None:
        """Show ``notice`` once, on the next page rendered (after a redirect)."""
        self.notice = notice
        self.changed = True

    def take_notice(self) -> str | None:
        notice, self.notice = self.notice, None
        if notice is not None:
            self.changed = True
        return notice

    def csrf_matches(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(
            token.encode("utf-8", "replace"), self.csrf_token.encode()
        )


class SessionCodec:
    """Reads and writes the session cookie; one per app, keyed from SECRET_KEY."""

    def __init__(self, secret_key: str, *, secure: bool) -> None:
        # A key of its own, so that a session signature can never serve as anything else.
        key = hmac.new(secret_key.encode(), b"scriptbots web session", hashlib.sha256).digest()
        self._serializer = URLSafeTimedSerializer(key, salt=_SALT)
        self.secure = secure

    def load(self, cookie: str | None) -> WebSession:
        """The session in ``cookie``; a new, logged-out one when it is absent, forged or old."""
        if not cookie:
            return WebSession(changed=True)
        try:
            data: Any = self._serializer.loads(cookie, max_age=MAX_AGE_S)
        except BadSignature:  # also SignatureExpired and malformed payloads
            return WebSession(changed=True)
        if not _well_formed(data):
            return WebSession(changed=True)
        return WebSession(
            csrf_token=data["t"],
            creator_id=data["c"],
            version=data.get("v", 0),
            notice=data.get("n"),
        )

    def dump(self, session: WebSession) -> str:
        data: dict[str, Any] = {"c": session.creator_id, "t": session.csrf_token}
        if session.version:
            data["v"] = session.version
        if session.notice:
            data["n"] = session.notice
        return self._serializer.dumps(data)

    def save(self, response: Response, session: WebSession) -> None:
        """Send the cookie when the session changed (and so restart its age)."""
        if not session.changed:
            return
        response.set_cookie(
            COOKIE_NAME,
            self.dump(session),
            max_age=MAX_AGE_S,
            path="/",
            httponly=True,
            samesite="lax",
            secure=self.secure,
        )


def _well_formed(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("t"), str)
        and len(data["t"]) >= 32
        and (data.get("c") is None or type(data.get("c")) is int)
        and type(data.get("v", 0)) is int
        and isinstance(data.get("n", ""), str)
    )
