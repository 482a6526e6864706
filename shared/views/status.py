"""The status page: queued jobs per lane, tasks no runner offers, runners and capacity per cluster."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LaneStatus(BaseModel):
    lane: str = Field(description="the lane")
    cluster: str = Field(description="the cluster whose queue of the lane this is")
    queued: int | None = Field(description="jobs waiting in the lane queue; null if RabbitMQ did not say")
    throttled: int | None = Field(
        None,
        description="jobs held back in the lane's intake queues (its own and its rated job keys'); left "
        "out for a lane never throttled",
    )
    paused: bool | None = Field(
        None, description="true while the lane, or its whole cluster, is paused; left out otherwise"
    )


class WaitingTask(BaseModel):
    """A task jobs keep coming back for because no living runner of the cluster offers it, or none
    that does could ever hold them (``bigger_runner``: their tier or slots exceed every runner's)."""

    cluster: str = Field(description="the cluster the jobs are for")
    task: str = Field(description="the task none of its living runners offers")
    since: float | None = Field(description="epoch seconds: first asked for")
    last_seen: float = Field(description="epoch seconds: last asked for")
    bigger_runner: bool = Field(False, description="the jobs wait for a runner bigger than any there is")
    reason: str | None = Field(None, description="what the jobs wait for, in words")


class RunnerCounts(BaseModel):
    idle: int = Field(description="running no job")
    busy: int = Field(description="running at least one job")
    draining: int = Field(description="finishing their jobs and taking no new ones (counted in idle or busy)")


class Amount(BaseModel):
    total: int = Field(description="what the runners have")
    used: int = Field(description="what their running jobs reserved")
    free: int = Field(description="what is left, never below 0")


class Capacity(BaseModel):
    cpu_millicores: Amount = Field(description="CPU, in thousandths of a core")
    memory_mib: Amount = Field(description="memory, in MiB")
    slots: Amount = Field(description="jobs at once; used counts running jobs")


class ClusterStatus(BaseModel):
    runners: RunnerCounts = Field(description="living runners")
    running_jobs: int = Field(description="jobs its living runners are running")
    capacity: Capacity = Field(description="summed over the living runners; used is what jobs reserved")
    paused: bool | None = Field(
        None,
        description="true while the cluster is paused (drained): none of its lanes dispatch; else left out",
    )


class Status(BaseModel):
    lanes: list[LaneStatus] = Field(description="every lane and cluster that has had a job, by name")
    waiting_for_runner: list[WaitingTask] = Field(
        description="tasks jobs wait for that no living runner offers, by cluster and task"
    )
    clusters: dict[str, ClusterStatus] = Field(description="by cluster slug")
