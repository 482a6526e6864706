"""The ``Laneyard-Signature`` header, in the style of Stripe's and GitHub's.

``Laneyard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``. The timestamp
is signed with the body, so a captured delivery cannot be replayed later than the receiver's
tolerance; several ``v1`` values may appear while a secret is being rotated.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Laneyard-Signature"
DELIVERY_HEADER = "Laneyard-Delivery"  # the delivery id, the same on every retry: de-duplicate on it
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def header(secrets: list[str], timestamp: int, body: bytes) -> str:
    """The header value: one ``v1`` per secret (the current one first)."""
    if not secrets:
        raise ValueError("no webhook secret: set LANEYARD_WEBHOOK_SECRET")
    return ",".join([f"t={timestamp}", *(f"v1={signature(s, timestamp, body)}" for s in secrets)])


def verify(secret: str, value: str, body: bytes, now: float, tolerance: float = TOLERANCE_SECONDS) -> bool:
    """What a receiver does: the timestamp is recent and one ``v1`` matches (compared in constant time)."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in value.split(","):
        key, _, item = part.strip().partition("=")
        if key == "t" and item.isdigit():
            timestamp = int(item)
        elif key == "v1":
            candidates.append(item)
    if timestamp is None or abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, c) for c in candidates)
