"""How things look through the HTTP API: the models of every response, used by admission as FastAPI
response_models and by the Python client."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(ts: float | None) -> datetime | None:
    """A stored epoch time as an aware UTC datetime, which pydantic writes as ISO-8601 ending in Z."""
    if ts is None:
        return None
    return datetime.fromtimestamp(float(ts), UTC)
