"""What a chaos run's jobs say about it: terminal states, lost jobs, double endings, re-executions."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from laneyard.shared.store.database import Doc

TERMINAL = ("COMPLETED", "ERROR", "CANCELLED")


def two_endings(doc: Doc) -> str | None:
    """Why ``doc`` ended in two different terminal states, or None.

    The timeline keeps, per attempt, when the job entered each state. An attempt that failed with
    retries left keeps its ERROR stamp and the job goes on: that is a retry, not an ending. Two
    endings are two terminal stamps in one attempt, a COMPLETED or CANCELLED attempt that was
    followed by another one, or a final attempt whose terminal stamp is not the job's state.
    """
    timeline: dict[str, dict[str, float]] = doc.get("timeline") or {}
    final = str(doc.get("attempt"))
    for attempt, stamps in sorted(timeline.items(), key=lambda kv: int(kv[0])):
        ends = [s for s in TERMINAL if s in stamps]
        if len(ends) > 1:
            return f"attempt {attempt} has {' and '.join(ends)}"
        if attempt != final and ends and ends[0] != "ERROR":
            return f"attempt {attempt} ended {ends[0]}, then attempt {final} ran"
        if attempt == final and ends and doc.get("state") in TERMINAL and ends[0] != doc["state"]:
            return f"state {doc['state']} but attempt {attempt} ended {ends[0]}"
    return None


@dataclass
class Verdict:
    wanted: int
    accepted: int
    rejected: Counter[str] = field(default_factory=Counter)
    states: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)  # of the jobs that ended in ERROR
    more_than_once: list[str] = field(default_factory=list)  # COMPLETED, executed more than once
    same_attempt_twice: list[str] = field(default_factory=list)  # ran twice within one attempt
    completed_unexecuted: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # accepted, never terminal within the wait
    lost_states: Counter[str] = field(default_factory=Counter)
    doubles: dict[str, str] = field(default_factory=dict)
    keys_with_two_jobs: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        failed = ", ".join(f"{r}: {n}" for r, n in self.reasons.most_common()) or "-"
        return [
            f"submitted              {self.accepted:,} of {self.wanted:,} accepted"
            + (f" (refused: {dict(self.rejected)})" if self.rejected else ""),
            f"completed              {self.states['COMPLETED']:,}",
            f"failed                 {self.states['ERROR']:,}  by reason: {failed}",
            f"cancelled              {self.states['CANCELLED']:,}",
            f"executed more than once {len(self.more_than_once):,} (completed, task ran 2+ times)",
            f"  of which within one attempt {len(self.same_attempt_twice):,} (not a takeover or retry)",
            f"completed, no execution {len(self.completed_unexecuted):,}",
            f"lost                   {len(self.lost):,}"
            + (f"  still {dict(self.lost_states)}; first {self.lost[:5]}" if self.lost else ""),
            f"two terminal states    {len(self.doubles):,}"
            + (f"  e.g. {list(self.doubles.items())[:3]}" if self.doubles else ""),
            f"keys with two jobs     {len(self.keys_with_two_jobs):,} (a retried submission made a new job)",
        ]


def judge(
    wanted: int,
    accepted: dict[str, str],
    rejected: Counter[str],
    docs: dict[str, Doc],
    executions: Counter[str],
    jobs_per_key: Counter[str],
    per_attempt: Counter[tuple[str, int]] | None = None,
) -> Verdict:
    """``accepted``: idempotency key -> job id; ``docs``: every accepted job's document that
    exists; ``executions``: job id -> times its task ran (``per_attempt``: per job and attempt);
    ``jobs_per_key``: key -> jobs with it."""
    v = Verdict(wanted=wanted, accepted=len(accepted), rejected=rejected)
    twice = {job for (job, _), n in (per_attempt or Counter()).items() if n > 1}
    for job_id in accepted.values():
        doc = docs.get(job_id)
        state = str(doc["state"]) if doc is not None else "no document"
        if state not in TERMINAL:
            v.lost.append(job_id)
            v.lost_states[state] += 1
            continue
        assert doc is not None
        v.states[state] += 1
        if state == "ERROR":
            v.reasons[str(doc.get("reason"))] += 1
        if state == "COMPLETED":
            if executions[job_id] > 1:
                v.more_than_once.append(job_id)
                if job_id in twice:
                    v.same_attempt_twice.append(job_id)
            elif executions[job_id] == 0:
                v.completed_unexecuted.append(job_id)
        if (why := two_endings(doc)) is not None:
            v.doubles[job_id] = why
    v.keys_with_two_jobs = [k for k, n in jobs_per_key.items() if n > 1]
    return v
