"""The console's session cookie: which key it was opened with, and its CSRF token, signed.

The cookie holds ``HMAC(secret, digest of the key)`` rather than the key or its digest, so a copied
cookie reveals nothing a keys file does not, and it ends when the secret changes (every start, unless
``LANEYARD_CONSOLE_SECRET`` is set). The CSRF token is random per session and must come back with
every change (form field or ``X-CSRF-Token`` header): a cross-site form cannot read it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

COOKIE = "laneyard_console"
MAX_AGE_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Session:
    key_id: str  # "" while no key is configured (the console is open) or none was given yet
    csrf: str
    issued: float


def new_session(key_id: str, now: float) -> Session:
    return Session(key_id=key_id, csrf=secrets.token_urlsafe(24), issued=now)


def key_id(secret: bytes, key_digest: bytes) -> str:
    return hmac.new(secret, b"console-key:" + key_digest, hashlib.sha256).hexdigest()


def _sign(secret: bytes, payload: bytes) -> str:
    return hmac.new(secret, b"console-session:" + payload, hashlib.sha256).hexdigest()


def seal(session: Session, secret: bytes) -> str:
    payload = json.dumps([session.key_id, session.csrf, session.issued], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + _sign(secret, payload)


def unseal(value: str | None, secret: bytes, now: float) -> Session | None:
    """The session of a cookie this process (or one sharing its secret) sealed, if not expired."""
    if not value or len(value) > 1024 or "." not in value:
        return None
    encoded, _, signature = value.rpartition(".")
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        return None
    if not hmac.compare_digest(_sign(secret, payload), signature):
        return None
    try:
        kid, csrf, issued = json.loads(payload)
        session = Session(str(kid), str(csrf), float(issued))
    except (ValueError, TypeError):
        return None
    if not 0 <= now - session.issued <= MAX_AGE_SECONDS:
        return None
    return session


def csrf_ok(session: Session | None, presented: str | None) -> bool:
    return session is not None and bool(presented) and hmac.compare_digest(session.csrf, presented or "")
