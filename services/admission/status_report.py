"""What ``GET /v1/status`` and the console's overview show: lanes, clusters, runners, capacity."""

from __future__ import annotations

from laneyard.services.admission import queue_depth
from laneyard.services.admission.grants import Grant
from laneyard.services.admission.routes import Context
from laneyard.shared.store import clusters, intakes, lanes, pauses, runners, unserved
from laneyard.shared.store.database import Doc
from laneyard.shared.throttling import intake
from laneyard.shared.views.status import (
    Amount,
    Capacity,
    ClusterStatus,
    LaneStatus,
    RunnerCounts,
    Status,
    WaitingTask,
)

MAX_LANES = 1000


def cluster_summary(docs: list[Doc]) -> ClusterStatus:
    cpu = sum(int(d.get("cpu_millicores") or 0) for d in docs)
    cpu_used = sum(int(d.get("reserved_cpu_millicores") or 0) for d in docs)
    mem = sum(int(d.get("memory_mib") or 0) for d in docs)
    mem_used = sum(int(d.get("reserved_memory_mib") or 0) for d in docs)
    slots = sum(int(d.get("slots") or 0) for d in docs)
    running = sum(len(d.get("running") or {}) for d in docs)
    busy = sum(1 for d in docs if d.get("running"))
    return ClusterStatus(
        runners=RunnerCounts(
            idle=len(docs) - busy,
            busy=busy,
            draining=sum(1 for d in docs if d.get("draining")),
        ),
        running_jobs=running,
        capacity=Capacity(
            cpu_millicores=Amount(total=cpu, used=cpu_used, free=max(0, cpu - cpu_used)),
            memory_mib=Amount(total=mem, used=mem_used, free=max(0, mem - mem_used)),
            slots=Amount(total=slots, used=running, free=max(0, slots - running)),
        ),
    )


async def build(ctx: Context, grant: Grant) -> Status:
    """``queued`` is what waits in the lane queue; ``throttled`` what waits in its intake queue.
    A key limited to lanes or clusters sees only those."""
    bus = ctx.admitter.bus
    lane_docs = [d for d in await lanes.all_lanes(ctx.db) if grant.covers(d["lane"], d["cluster"])]
    lane_docs = lane_docs[:MAX_LANES]
    intake_docs = await intakes.all_intakes(ctx.db)
    intake_ids = {str(d["_id"]) for d in intake_docs}
    names = [bus.names.lane_queue(d["lane"], d["cluster"]) for d in lane_docs]
    names += [
        intake.queue_name(bus.names, d["lane"], d["cluster"])
        for d in lane_docs
        if lanes.lane_id(d["lane"], d["cluster"]) in intake_ids
    ]
    # Rated job keys' intake queues count towards their lane's ``throttled``.
    keyed: dict[tuple[str, str], list[str]] = {}
    shown = {(str(d["lane"]), str(d["cluster"])) for d in lane_docs}
    for d in intake_docs:
        where = (str(d.get("lane")), str(d.get("cluster")))
        if d.get("key") is not None and where in shown:
            keyed.setdefault(where, []).append(intake.queue_name(bus.names, *where, str(d["key"])))
    names += [name for queues in keyed.values() for name in queues][:MAX_LANES]
    found = await queue_depth.depths(bus, names)
    paused = await pauses.load(ctx.db)
    lane_rows = []
    for d in sorted(lane_docs, key=lambda d: (str(d["lane"]), str(d["cluster"]))):
        row = LaneStatus(
            lane=d["lane"],
            cluster=d["cluster"],
            queued=found.get(bus.names.lane_queue(d["lane"], d["cluster"])),
        )
        throttled = intake.queue_name(bus.names, d["lane"], d["cluster"])
        if throttled in found:
            row.throttled = found[throttled]
        for name in keyed.get((str(d["lane"]), str(d["cluster"])), []):
            if found.get(name) is not None:
                row.throttled = (row.throttled or 0) + (found[name] or 0)
        if paused.holds(str(d["lane"]), str(d["cluster"])):
            row.paused = True
        lane_rows.append(row)

    max_age = ctx.settings.heartbeat_seconds * ctx.settings.heartbeat_misses
    by_cluster: dict[str, list[Doc]] = {str(d["_id"]): [] for d in await clusters.all_clusters(ctx.db)}
    latest: dict[str, Doc] = {}
    for doc in await runners.alive(ctx.db, max_age):
        # One entry per runner even if a store ever kept several reports of it.
        key = str(doc.get("runner_id") or doc["_id"])
        seen = float(doc.get("last_seen") or 0)
        if key not in latest or seen > float(latest[key].get("last_seen") or 0):
            latest[key] = doc
    for doc in latest.values():
        by_cluster.setdefault(str(doc.get("cluster")), []).append(doc)
    offered = {(str(d.get("cluster")), str(t)) for d in latest.values() for t in d.get("tasks") or []}
    # A pair stays listed while jobs keep coming back for it (their delay tops out at
    # delay_max_ms) and no living runner of the cluster offers the task, or none that does is
    # big enough for them (too_big: listed whoever offers it).
    window = 2 * ctx.settings.delay_max_ms / 1000 + max_age
    waiting = [
        WaitingTask(
            cluster=d["cluster"],
            task=d["task"],
            since=d.get("since"),
            last_seen=d["last_seen"],
            bigger_runner=bool(d.get("too_big")),
            reason=d.get("reason") or None,
        )
        for d in await unserved.recent(ctx.db, window)
        if grant.covers_cluster(str(d["cluster"]))
        and (d.get("too_big") or (str(d["cluster"]), str(d["task"])) not in offered)
    ]
    summaries = {
        slug: cluster_summary(docs) for slug, docs in sorted(by_cluster.items()) if grant.covers_cluster(slug)
    }
    for slug, summary in summaries.items():
        if paused.cluster_paused(slug):
            summary.paused = True
    return Status(
        lanes=lane_rows,
        waiting_for_runner=sorted(waiting, key=lambda w: (w.cluster, w.task)),
        clusters=summaries,
    )
