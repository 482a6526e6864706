"""Whose turn it is among the queues of a fair lane: stride scheduling, pure logic.

Each queue of the lane (its default queue and its fairness shards) has a pass; starting a job of
key ``k`` from queue ``q`` moves ``q``'s pass on by ``1 / weight(k)``, and the next job comes from
the queue with the lowest pass among those whose head has the highest priority (strict priority
first, then shares). A queue that was idle joins at the current virtual time, the pass of the
last start, so it saves up no credit while idle and a key that arrives behind a long backlog of
another waits for at most one job of each active queue. Passes are kept for the queues of the
lane only (a fixed number), so the state is bounded whatever the number of keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StrideClock:
    passes: dict[str, float] = field(default_factory=dict)
    now: float = 0.0  # virtual time: the pass at which the last job started

    def _pass(self, queue: str) -> float:
        return max(self.passes.get(queue, 0.0), self.now)

    def pick(self, heads: dict[str, int]) -> str | None:
        """The queue to take the next job from, given each non-empty queue's head priority."""
        if not heads:
            return None
        top = max(heads.values())
        return min((q for q, p in heads.items() if p == top), key=lambda q: (self._pass(q), q))

    def started(self, queue: str, weight: float) -> None:
        """A job of ``queue`` started; ``weight`` is its key's (a bigger weight, a bigger share)."""
        start = self._pass(queue)
        self.now = start
        self.passes[queue] = start + 1.0 / max(weight, 1e-6)
