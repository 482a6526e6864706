"""The dispatcher's view: lane backlogs, dispatch latency, and each cluster's capacity."""

from __future__ import annotations

from typing import Protocol

from prometheus_client import Counter, Gauge, Histogram

from laneyard.shared.metrics.states import JOB_STATE_SECONDS, STATE_BUCKETS
from laneyard.shared.models import JobMessage

LANE_CLUSTER = ("lane", "cluster")
MIB = 1024 * 1024

QUEUED_JOBS = Gauge(
    "laneyard_lane_queued_jobs",
    "Messages waiting in a lane queue, as RabbitMQ counts them (measured every second)",
    LANE_CLUSTER,
)
OLDEST_AGE = Gauge(
    "laneyard_lane_oldest_job_age_seconds",
    "How long the longest-waiting job of a lane has been queued (held back, or at the head of the queue)",
    LANE_CLUSTER,
)
JOBS_DISPATCHED = Counter(
    "laneyard_jobs_dispatched_total", "Jobs forwarded from a lane to their cluster's queue", LANE_CLUSTER
)
JOBS_HELD_BACK = Counter(
    "laneyard_jobs_held_back_total",
    "Times a job could not go yet: reason is no_room, reserved, no_runner or over_share",
    (*LANE_CLUSTER, "reason"),
)
DISPATCH_LATENCY = Histogram(
    "laneyard_dispatch_latency_seconds",
    "From admission (or start_at) to the forward to the cluster, for first attempts",
    LANE_CLUSTER,
    buckets=STATE_BUCKETS,
)
JOBS_REAPED = Counter(
    "laneyard_jobs_reaped_total",
    "RUNNING jobs the dispatcher recovered: runner lost (requeue, fail, cancel), timeout (reaped), "
    "heartbeat timeout",
    ("reason", "fate"),
)
MESSAGES_REPUBLISHED = Counter(
    "laneyard_outbox_republished_total", "Job messages the outbox sweeper published again after a crash"
)
LEADER = Gauge("laneyard_dispatcher_leader", "1 while this dispatcher holds the dispatch lease")
RUNNERS_ALIVE = Gauge(
    "laneyard_cluster_runners_alive",
    "Runners whose heartbeats are current (draining ones included)",
    ("cluster",),
)


def _capacity_gauge(name: str, help_text: str) -> Gauge:
    return Gauge(f"laneyard_cluster_{name}", help_text, ("cluster",))


CPU_OFFERED = _capacity_gauge("offered_cpu_cores", "CPU the cluster's runners offer")
CPU_RESERVED = _capacity_gauge("reserved_cpu_cores", "CPU booked by running and in-flight jobs")
CPU_FREE = _capacity_gauge("free_cpu_cores", "CPU still placeable: threshold x offered - reserved")
MEMORY_OFFERED = _capacity_gauge("offered_memory_bytes", "Memory the cluster's runners offer")
MEMORY_RESERVED = _capacity_gauge("reserved_memory_bytes", "Memory booked by running and in-flight jobs")
MEMORY_FREE = _capacity_gauge("free_memory_bytes", "Memory still placeable: threshold x offered - reserved")
SLOTS_OFFERED = _capacity_gauge("offered_slots", "Task slots the cluster's runners offer")
SLOTS_USED = _capacity_gauge("used_slots", "Task slots taken by running and in-flight jobs")
SLOTS_FREE = _capacity_gauge("free_slots", "Task slots still free")


def forwarded(job: JobMessage, waited: float) -> None:
    """A job went to its cluster after ``waited`` seconds queued in this lane."""
    JOBS_DISPATCHED.labels(job.lane, job.cluster).inc()
    JOB_STATE_SECONDS.labels("IN_QUEUE", job.cluster).observe(waited)
    if job.attempt == 1:
        DISPATCH_LATENCY.labels(job.lane, job.cluster).observe(waited)


def observe_lane(lane: str, cluster: str, depth: int, oldest_age: float) -> None:
    QUEUED_JOBS.labels(lane, cluster).set(depth)
    OLDEST_AGE.labels(lane, cluster).set(oldest_age)


class Totals(Protocol):
    """What ``ClusterCapacity.totals()`` returns (structural, so that shared/ needs nothing of services/)."""

    offered_cpu: int
    offered_mem: int
    reserved_cpu: int
    reserved_mem: int
    slots: int
    used_slots: int


def observe_cluster(cluster: str, runners: int, t: Totals, threshold: float) -> None:
    RUNNERS_ALIVE.labels(cluster).set(runners)
    CPU_OFFERED.labels(cluster).set(t.offered_cpu / 1000)
    CPU_RESERVED.labels(cluster).set(t.reserved_cpu / 1000)
    CPU_FREE.labels(cluster).set(max(0.0, threshold * t.offered_cpu - t.reserved_cpu) / 1000)
    MEMORY_OFFERED.labels(cluster).set(t.offered_mem * MIB)
    MEMORY_RESERVED.labels(cluster).set(t.reserved_mem * MIB)
    MEMORY_FREE.labels(cluster).set(max(0.0, threshold * t.offered_mem - t.reserved_mem) * MIB)
    SLOTS_OFFERED.labels(cluster).set(t.slots)
    SLOTS_USED.labels(cluster).set(t.used_slots)
    SLOTS_FREE.labels(cluster).set(max(0, t.slots - t.used_slots))


LANE_PAUSED = Gauge(
    "laneyard_lane_paused",
    "1 while the lane of the cluster is paused, by itself or with its whole cluster (dispatches nothing)",
    LANE_CLUSTER,
)
CLUSTER_PAUSED = Gauge("laneyard_cluster_paused", "1 while the cluster is paused (drained)", ("cluster",))
