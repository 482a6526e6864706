"""Failed authentications per address: an address that keeps failing waits out the window."""

from __future__ import annotations

import pytest

from laneyard.services.admission import auth_failures
from laneyard.services.admission.auth_failures import FailureLimiter


def test_an_address_is_blocked_after_the_limit_until_its_oldest_failure_ages_out() -> None:
    limiter = FailureLimiter(limit=3, window=60.0)
    for t in (0.0, 1.0, 2.0):
        assert limiter.blocked_for("10.0.0.1", t) == 0.0
        limiter.failed("10.0.0.1", t)
    assert limiter.blocked_for("10.0.0.1", 10.0) == 50.0  # the first failure ages out at 60 s
    assert limiter.blocked_for("10.0.0.2", 10.0) == 0.0  # another address is not held back
    assert limiter.blocked_for("10.0.0.1", 60.5) == 0.0


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth_failures, "MAX_ADDRESSES", 100)
    limiter = FailureLimiter(limit=2, window=60.0)
    for i in range(1000):
        limiter.failed(f"a{i}", float(i) / 1000)
    assert len(limiter._failures) == 100
