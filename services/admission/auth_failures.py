"""Failed authentications per client address: counted, and an address that keeps failing is told
to wait, so a key cannot be guessed at the speed of the API.

Pure bookkeeping, bounded in memory: at most ``MAX_ADDRESSES`` addresses are tracked, the least
recently failing forgotten first. Per admission replica; several replicas each hold their own.
"""

from __future__ import annotations

from collections import OrderedDict, deque

MAX_ADDRESSES = 10_000


class FailureLimiter:
    def __init__(self, limit: int = 20, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> deque[float] | None:
        times = self._failures.get(address)
        if times is not None:
            while times and now - times[0] > self.window:
                times.popleft()
            if not times:
                del self._failures[address]
                return None
        return times

    def blocked_for(self, address: str, now: float) -> float:
        """Seconds ``address`` must wait before it may try again (0: it may)."""
        times = self._recent(address, now)
        if times is None or len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.window - now)

    def failed(self, address: str, now: float) -> None:
        times = self._recent(address, now)
        if times is None:
            times = self._failures[address] = deque(maxlen=self.limit)
        times.append(now)
        self._failures.move_to_end(address)
        while len(self._failures) > MAX_ADDRESSES:
            self._failures.popitem(last=False)
