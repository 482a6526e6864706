"""How long the longest-waiting job of each lane has been queued, without reading the queue.

RabbitMQ tells a queue's depth but not the age of its messages, and peeking at the head (get, then
nack) would reorder it. The dispatcher sees every message it dispatches, so it keeps, per lane, the
jobs it has held back (put back at their place, or sent round the delay queues) with the time they
were queued: while a lane is blocked those are exactly the jobs at its head, and the oldest of them
is the answer. While a lane flows nothing is held back, and the answer is how long the last message
received had waited. A job leaves the list when its message comes back to this dispatcher.

Queued since: for a first attempt, its submission (or its ``start_at``); for a retry, when this
dispatcher first saw it, since its retry delay was deliberate and not a wait for room.
"""

from __future__ import annotations

from collections import OrderedDict

from laneyard.shared.models import JobMessage

LaneKey = tuple[str, str]  # (cluster, lane)


def queued_since(job: JobMessage, now: float) -> float:
    if job.attempt > 1:
        return now
    return max(job.submitted_at, job.not_before or 0.0)


class QueueAges:
    def __init__(self, max_jobs: int = 10_000) -> None:
        self.max_jobs = max_jobs
        self.held: dict[LaneKey, dict[str, float]] = {}  # job id -> queued since
        self.last_wait: dict[LaneKey, float] = {}
        # Messages being handled: queued since when (bounded: a message dropped unhandled is forgotten)
        self._in_hand: OrderedDict[str, float] = OrderedDict()

    def received(self, job: JobMessage, now: float) -> None:
        key = (job.cluster, job.lane)
        held = self.held.get(key)
        since = held.pop(job.id, None) if held else None
        if since is None:
            since = queued_since(job, now)
        self.last_wait[key] = max(0.0, now - since)
        self._in_hand[job.id] = since
        if len(self._in_hand) > self.max_jobs:
            self._in_hand.popitem(last=False)

    def held_back(self, job: JobMessage, now: float) -> None:
        since = self._in_hand.pop(job.id, None)
        held = self.held.setdefault((job.cluster, job.lane), {})
        if len(held) < self.max_jobs:
            held[job.id] = queued_since(job, now) if since is None else since

    def forwarded(self, job: JobMessage, now: float) -> float:
        """The job left its lane for its cluster; returns how long it was queued."""
        since = self._in_hand.pop(job.id, None)
        return max(0.0, now - (queued_since(job, now) if since is None else since))

    def oldest_age(self, key: LaneKey, depth: int, now: float) -> float:
        held = self.held.get(key)
        if held:
            return max(0.0, now - min(held.values()))
        return self.last_wait.get(key, 0.0) if depth > 0 else 0.0

    def clear(self) -> None:
        """On losing the dispatch lease: the held-back jobs are now the next holder's to see."""
        self.held.clear()
        self.last_wait.clear()
        self._in_hand.clear()
