"""Jobs through the API: a job with its timeline, a page of jobs, a page of log lines, a cancellation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from laneyard.shared.states import JobState
from laneyard.shared.tiers import Tier
from laneyard.shared.views import utc

LIFECYCLE = {str(s): i for i, s in enumerate(JobState)}


class Transition(BaseModel):
    attempt: int = Field(description="the attempt, from 1, in which the job entered the state")
    state: JobState = Field(description="the state entered")
    at: datetime | None = Field(description="when it last entered that state in that attempt")


class JobView(BaseModel):
    """A job as stored: what was submitted, where it stands, and how it got there."""

    id: str = Field(description="the job id")
    task: str | None = Field(description="the registered task it runs")
    args: dict[str, Any] | None = Field(description="null in lists of jobs: get the job for its args")
    state: JobState = Field(description="IN_QUEUE, WAITING, RUNNING, or one of the ends")
    lane: str | None = Field(description="the lane it is queued in")
    cluster: str | None = Field(description="the cluster whose runners run it")
    priority: int | None = Field(description="0-9; 9 runs first")
    tier: Tier | None = Field(description="the resources it reserves on a runner")
    labels: dict[str, str] = Field(description="key: value pairs given at submission, to filter by")
    attempt: int | None = Field(description="the current attempt, from 1")
    max_retries: int | None = Field(description="attempts allowed after the first fails")
    max_execution_time: float | None = Field(description="seconds")
    runner: str | None = Field(description="the runner holding the job while it runs")
    slots: int = Field(1, description="the share of a runner it takes besides its tier")
    heartbeat_timeout: float | None = Field(
        None, description="seconds: stopped as stuck if running this long without a heartbeat"
    )
    heartbeat_at: datetime | None = Field(None, description="the task's last stored heartbeat")
    progress: float | None = Field(None, description="0-1, as the task last reported it")
    status_message: str | None = Field(None, description="the task's last status line")
    waiting_for: str | None = Field(None, description="what a queued job waits for, if not just room")
    lost_runner: str | None = Field(None, description="the runner that was lost while holding it")
    result: Any = Field(description="what the task returned, once COMPLETED")
    error: str | None = Field(description="why it failed, once ERROR (or why it was cancelled)")
    reason: str | None = Field(description="a short machine-readable cause: timeout, exception, ...")
    schedule_id: str | None = Field(description="the schedule that submitted the job")
    last_completed_at: datetime | None = Field(
        description="for a scheduled job: when that schedule's previous run completed"
    )
    parent_id: str | None = Field(description="for a sub-task: the job that spawned it")
    subtasks: list[str] = Field(description="ids of the sub-tasks the job spawned, in the order spawned")
    awaiting_subtasks: bool = Field(description="its own function is done; it waits for its sub-tasks")
    dead_letter: str | None = Field(description="the dead letter recorded when the job failed")
    replay_of: str | None = Field(description="the dead letter this job replays")
    created_at: datetime | None = Field(description="when it was submitted")
    updated_at: datetime | None = Field(description="when its document last changed")
    transitions: list[Transition] = Field(description="ordered by attempt, then by lifecycle")

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any], *, with_args: bool = True) -> JobView:
        """The view of a stored job document; ``with_args=False`` leaves its args out (``null``)."""
        timeline: Mapping[str, Mapping[str, float]] = doc.get("timeline") or {}
        # Ordered by attempt and lifecycle, not by timestamp: the stamps come from different processes'
        # clocks, and a few milliseconds of skew must not show a job WAITING before it was queued.
        transitions = sorted(
            (
                Transition(attempt=int(attempt), state=JobState(state), at=utc(at))
                for attempt, states in timeline.items()
                for state, at in states.items()
            ),
            key=lambda t: (t.attempt, LIFECYCLE.get(str(t.state), len(LIFECYCLE))),
        )
        # Sub-tasks are kept by id in the parent (shared.store.subtasks), each with when it was registered.
        children: Mapping[str, Mapping[str, Any]] = doc.get("children") or {}
        return cls(
            id=doc["_id"],
            task=doc.get("task"),
            args=doc.get("args") if with_args else None,
            state=doc["state"],
            lane=doc.get("lane"),
            cluster=doc.get("cluster"),
            priority=doc.get("priority"),
            tier=doc.get("tier"),
            labels=doc.get("labels") or {},
            attempt=doc.get("attempt"),
            max_retries=doc.get("max_retries"),
            max_execution_time=doc.get("max_execution_time"),
            runner=doc.get("runner"),
            slots=int(doc.get("slots") or 1),
            heartbeat_timeout=doc.get("heartbeat_timeout"),
            heartbeat_at=utc(doc.get("heartbeat_at")),
            progress=doc.get("progress"),
            status_message=doc.get("status_message"),
            waiting_for=doc.get("waiting_for"),
            lost_runner=doc.get("lost_runner"),
            result=doc.get("result"),
            error=doc.get("error"),
            reason=doc.get("reason"),
            schedule_id=doc.get("schedule_id"),
            last_completed_at=utc(doc.get("last_completed_at")),
            parent_id=doc.get("parent_id"),
            subtasks=sorted(children, key=lambda cid: float(children[cid].get("at") or 0.0)),
            awaiting_subtasks=doc["state"] == JobState.AWAITING_SUBTASKS,
            dead_letter=doc.get("dead_letter"),
            replay_of=doc.get("replay_of"),
            created_at=utc(doc.get("created_at")),
            updated_at=utc(doc.get("updated_at")),
            transitions=transitions,
        )


class JobPage(BaseModel):
    jobs: list[JobView] = Field(description="newest first, without args")
    next_cursor: str | None = Field(description="pass as cursor for the next page; null on the last")


class LogLine(BaseModel):
    seq: int = Field(description="the line's position in its attempt's output, from 1")
    ts: datetime | None = Field(description="when the runner took the line")
    stream: str | None = Field(description="stdout, stderr, log (the task's own log) or laneyard")
    line: str | None = Field(description="the text, without its line end")


class LogPage(BaseModel):
    """One attempt's lines in order; to follow, pass ``next`` back as ``after`` until ``done``."""

    id: str = Field(description="the job id")
    state: JobState = Field(description="the job's state, read before the lines")
    attempt: int = Field(description="the attempt these lines are of")
    attempts: int = Field(description="how many attempts the job has had so far")
    lines: list[LogLine] = Field(description="in order, up to limit")
    next: int = Field(description="pass as after for the lines that follow")
    done: bool = Field(description="the job has ended and every line was returned")


class CancelResult(BaseModel):
    id: str = Field(description="the job id")
    state: JobState = Field(description="CANCELLED, or RUNNING while its runner is asked to stop")
    cancel_requested: bool = Field(False, description="the running job's runner was asked to stop it")
