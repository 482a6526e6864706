"""When a failed delivery is tried again, and when it is given up: pure decisions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from laneyard.shared.store.webhooks import DELIVERED, FAILED, REFUSED


def retry_delay(failures: int, base: float, cap: float, jitter: float) -> float:
    """Seconds before the next attempt after ``failures`` failed ones: ``base`` doubling, at most
    ``cap``, scaled by ``jitter`` in [0, 1) into [0.8, 1.2) of that, so that the deliveries of many
    jobs that failed together (a receiver that was down) do not all come back at once."""
    exponent = min(max(failures - 1, 0), 62)
    delay = min(cap, base * 2.0**exponent)
    return delay * (0.8 + 0.4 * jitter)


def next_attempt_at(
    now: float, failures: int, first_due: float, base: float, cap: float, give_up: float, jitter: float
) -> float | None:
    """When to try again, or None when the next try would fall past ``first_due + give_up``."""
    at = now + retry_delay(failures, base, cap, jitter)
    return None if at > first_due + give_up else at


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: an HTTP status, an error (connect, timeout), or a refusal to call."""

    status: int | None = None
    error: str | None = None
    refused: str | None = None
    seconds: float = 0.0

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        if self.refused is not None:
            return self.refused
        if self.error is not None:
            return self.error
        if self.status is not None and 300 <= self.status < 400:
            return f"HTTP {self.status}: redirects are not followed"
        return f"HTTP {self.status}"


@dataclass(frozen=True)
class Policy:
    base: float
    cap: float
    give_up: float


def after_attempt(
    outcome: Outcome, *, failures_before: int, first_due: float, now: float, policy: Policy, jitter: float
) -> dict[str, Any]:
    """The delivery's changes after an attempt: delivered, refused (never retried: the address will
    not become one Laneyard calls by waiting), retried later, or failed for good past the horizon."""
    if outcome.delivered:
        return {"state": DELIVERED, "delivered_at": now, "last_error": None}
    if outcome.refused is not None:
        return {"state": REFUSED, "last_error": outcome.refused}
    at = next_attempt_at(now, failures_before + 1, first_due, policy.base, policy.cap, policy.give_up, jitter)
    if at is None:
        return {"state": FAILED, "last_error": outcome.describe()}
    return {"next_at": at, "last_error": outcome.describe()}
