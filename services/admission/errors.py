"""Why a request was refused, with the HTTP status that says so.

A job the core refuses raises ``NotAdmitted``, which carries no status: ``NotAdmitted.http_status`` maps it.
"""

from __future__ import annotations

from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from pymongo.errors import ConnectionFailure

from laneyard.shared.admitting.refusal import NotAdmitted
from laneyard.shared.amqp.bus import Unroutable

# Errors that mean a backing service is away rather than that the request is wrong: answered 503.
UNAVAILABLE: tuple[type[Exception], ...] = (
    AMQPError, ChannelInvalidStateError, Unroutable, ConnectionFailure, TimeoutError,
)  # fmt: skip


class Rejected(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def retry_after(exc: NotAdmitted) -> dict[str, str] | None:
    if exc.retry_after is None:
        return None
    return {"Retry-After": str(max(1, round(exc.retry_after)))}
