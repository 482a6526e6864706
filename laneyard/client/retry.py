"""When a request is tried again, and after how long: pure decisions, the same for both clients."""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

# Answers that say "not now" rather than "not this": the same request may go through shortly.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter; ``Retry-After`` is honoured up to ``cap``."""

    attempts: int = 6
    base: float = 0.2
    cap: float = 5.0

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return min(self.cap, max(0.0, retry_after))
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        return (rng or random).uniform(ceiling / 2, ceiling)


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds, when given as a number (an HTTP date is taken as absent)."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def transport_retryable(exc: httpx.TransportError, replay_safe: bool) -> bool:
    """A connection that was never made sent nothing, so any request may go again; after a request
    may have reached the server, only one that is safe to repeat does."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True
    return replay_safe


def status_retryable(status: int, replay_safe: bool) -> bool:
    return replay_safe and status in RETRY_STATUSES
