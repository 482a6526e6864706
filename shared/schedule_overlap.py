"""What a schedule's fire does while its previous run is unfinished: the overlap policy.

    allow         start another run alongside
    skip          start nothing; the fire time is recorded as skipped (the default)
    buffer_one    keep this fire (at most one) and start it when the previous run ends; a fire
                  while one is already kept is skipped
    cancel_other  cancel the unfinished runs and start the new one at once

Temporal's ScheduleOverlapPolicy is the model (BUFFER_ALL and TERMINATE_OTHER are left out: an
unbounded buffer is the pile-up this exists to prevent, and a job here is stopped only by a cancel).
"""

from __future__ import annotations

from enum import StrEnum


class Overlap(StrEnum):
    ALLOW = "allow"
    SKIP = "skip"
    BUFFER_ONE = "buffer_one"
    CANCEL_OTHER = "cancel_other"


DEFAULT_OVERLAP = Overlap.SKIP


class Action(StrEnum):
    START = "start"
    SKIP = "skip"
    BUFFER = "buffer"
    CANCEL_AND_START = "cancel_and_start"


def on_fire(policy: Overlap, unfinished: bool, buffered: bool) -> Action:
    """What a fire does, given whether a previous run is unfinished and whether a fire is kept."""
    if policy is Overlap.ALLOW:
        return Action.START
    if policy is Overlap.BUFFER_ONE and buffered:
        # The kept fire goes first: this one would otherwise overtake it when the run ends.
        return Action.SKIP
    if not unfinished:
        return Action.START
    if policy is Overlap.SKIP:
        return Action.SKIP
    if policy is Overlap.BUFFER_ONE:
        return Action.BUFFER
    return Action.CANCEL_AND_START


def skip_reason(policy: Overlap, unfinished: list[str], buffered: bool) -> str:
    """Why a fire was skipped, as shown on the schedule."""
    if policy is Overlap.BUFFER_ONE and buffered:
        return "overlap buffer_one: a fire is already waiting for the previous run to end"
    return f"overlap {policy}: previous run {', '.join(unfinished[:3]) or '?'} unfinished"
