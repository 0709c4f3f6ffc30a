"""The web UI's session: a signed cookie, CSRF tokens, the session secret.

The cookie carries no secret of the user: only the SHA-256 hash of the API key they signed
in with (the key store keeps the same hash), an expiry and a random CSRF seed, signed with
HMAC-SHA256. Every request looks the hash up again, so a revoked key signs the user out
within the key store's cache time. A visitor who has not signed in gets a session with a
CSRF seed only, so the sign-in form is protected as well.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

COOKIE_NAME = "debtcases_session"
SESSION_SECONDS = 12 * 3600
ANONYMOUS_SECONDS = 2 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    csrf_seed: str
    expires: int
    key_hash: str | None = None  # None: not signed in

    @classmethod
    def anonymous(cls, now: float | None = None) -> Session:
        return cls(secrets.token_urlsafe(24), int((now or time.time()) + ANONYMOUS_SECONDS))

    @classmethod
    def signed_in(cls, key_hash: str, now: float | None = None) -> Session:
        # A fresh CSRF seed at sign-in: a seed planted before it is worth nothing after.
        return cls(secrets.token_urlsafe(24), int((now or time.time()) + SESSION_SECONDS), key_hash)


class SessionCodec:
    """Signs sessions into cookie values and checks them back."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self._secret = secret

    def _mac(self, purpose: str, payload: bytes) -> bytes:
        return hmac.new(self._secret, purpose.encode() + b"\0" + payload, hashlib.sha256).digest()

    def encode(self, session: Session) -> str:
        payload = json.dumps(
            {"c": session.csrf_seed, "e": session.expires, "k": session.key_hash},
            separators=(",", ":"),
        ).encode()
        return f"{_b64(payload)}.{_b64(self._mac('session', payload))}"

    def decode(self, value: str | None, now: float | None = None) -> Session | None:
        """The session in a cookie value, or None when it is missing, forged or expired."""
        if not value or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        try:
            payload = _unb64(body)
            if not hmac.compare_digest(_unb64(mac), self._mac("session", payload)):
                return None
            data = json.loads(payload)
            session = Session(str(data["c"]), int(data["e"]), data.get("k"))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires < (now or time.time()):
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        return _b64(self._mac("csrf", session.csrf_seed.encode()))

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session), str(token))

    def sign(self, purpose: str, text: str) -> str:
        """A MAC of ``text`` (e.g. a pending import's file name), so it cannot be forged."""
        return _b64(self._mac(purpose, text.encode()))

    def verify(self, purpose: str, text: str, mac: str) -> bool:
        return hmac.compare_digest(self.sign(purpose, text), mac)


def load_secret(configured: str | None, var_dir: Path = Path("var")) -> bytes:
    """The configured secret, else one generated on first start and kept in
    ``var/session_secret`` (mode 0600), so sessions survive a restart."""
    if configured:
        return configured.encode()
    path = var_dir / "session_secret"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    var_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process was first: use theirs
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as out:
        out.write(secret)
    return secret
