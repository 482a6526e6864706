"""What runners do with tasks, per task name, and whether their capacity reports get through."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from laneyard.shared.metrics.states import JOB_STATE_SECONDS
from laneyard.shared.models import JobMessage
from laneyard.shared.states import JobState

TASK = ("task",)

TASKS_RUNNING = Gauge("laneyard_tasks_running", "Tasks executing now", TASK)
TASKS_COMPLETED = Counter("laneyard_tasks_completed_total", "Task runs that returned a result", TASK)
TASKS_FAILED = Counter(
    "laneyard_tasks_failed_total",
    "Jobs that ended in ERROR with no retry left (reason: exception, timeout, bad_args, runner_lost...)",
    (*TASK, "reason"),
)
TASKS_RETRIED = Counter(
    "laneyard_tasks_retried_total", "Failed task runs that were sent back for another attempt", TASK
)
TASKS_TIMED_OUT = Counter(
    "laneyard_tasks_timed_out_total", "Task runs stopped at their max_execution_time (retried or not)", TASK
)
TASKS_CANCELLED = Counter(
    "laneyard_tasks_cancelled_total", "Jobs cancelled on request, queued or running", TASK
)
TASKS_DEAD_LETTERED = Counter(
    "laneyard_tasks_dead_lettered_total",
    "Job messages a runner dead-lettered: undecodable (task empty), task not registered, or failed for good",
    TASK,
)
TASK_HEARTBEATS = Counter(
    "laneyard_task_heartbeats_total", "Heartbeats tasks sent, as stored (at most one a second per job)", TASK
)
TASKS_STUCK = Counter(
    "laneyard_tasks_stuck_total",
    "Task runs stopped because they sent no heartbeat within heartbeat_timeout",
    TASK,
)
TASK_PROGRESS = Histogram(
    "laneyard_task_progress_ratio",
    "The progress (0-1) tasks report in their heartbeats",
    TASK,
    buckets=(0.1, 0.25, 0.5, 0.75, 0.9, 1.0),
)
TASK_DURATION = Histogram(
    "laneyard_task_duration_seconds",
    "How long a task run took; outcome is completed, error or cancelled",
    (*TASK, "outcome"),
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
JOBS_SENT_BACK = Counter(
    "laneyard_jobs_sent_back_total",
    "Jobs a runner handed back to their lane because it had no room after all (the dispatcher's view lagged)",
    ("cluster",),
)
REPORTS_SENT = Counter("laneyard_runner_reports_sent_total", "Capacity reports published to the dispatchers")
REPORTS_FAILED = Counter(
    "laneyard_runner_reports_failed_total",
    "Capacity reports that could not be sent (three heartbeats in a row and the runner counts as gone)",
)


def finished(job: JobMessage, attempt: int, state: JobState, reason: str | None, seconds: float) -> None:
    """One run of ``job`` ended with ``state`` after ``seconds``; a failure with attempts left is a retry."""
    task = job.task
    outcome = {JobState.COMPLETED: "completed", JobState.CANCELLED: "cancelled"}.get(state, "error")
    TASK_DURATION.labels(task, outcome).observe(seconds)
    JOB_STATE_SECONDS.labels("RUNNING", job.cluster).observe(seconds)
    if reason == "timeout":
        TASKS_TIMED_OUT.labels(task).inc()
    if state is JobState.COMPLETED:
        TASKS_COMPLETED.labels(task).inc()
    elif state is JobState.CANCELLED:
        TASKS_CANCELLED.labels(task).inc()
    elif attempt <= job.max_retries:
        TASKS_RETRIED.labels(task).inc()
    else:
        TASKS_FAILED.labels(task, reason or "error").inc()
        TASKS_DEAD_LETTERED.labels(task).inc()  # a last failure is dead-lettered, to be replayed
