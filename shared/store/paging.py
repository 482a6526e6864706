"""Cursors for newest-first pages: an opaque token of (time, _id) of the last item handed out, so
the next page starts strictly after it even when items share a time."""

from __future__ import annotations

import base64
import json
import math

from laneyard.shared.store.database import Doc


class BadCursor(ValueError):
    pass


def encode_cursor(doc: Doc, time_field: str) -> str:
    raw = json.dumps([float(doc.get(time_field) or 0.0), str(doc["_id"])]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """Any string: the (time, _id) it holds, or BadCursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, doc_id = json.loads(raw)
        when = float(at)  # OverflowError for an integer beyond a float's range
        if not math.isfinite(when):
            raise ValueError(f"{when} is no time")
        return when, str(doc_id)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise BadCursor(f"cursor {cursor[:80]!r} is not one this API handed out") from exc
