"""How API answers look in a terminal: rich tables, and plain JSON for ``--json``.

Tables go to stdout through ``out``; progress, live lines and errors go to stderr through ``err``,
so that ``laneyard submit ... | xargs`` and ``--json`` output stay clean.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, TypeAdapter
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from laneyard.shared.views.clusters import ClusterView
from laneyard.shared.views.dead_letters import DeadLetterItem
from laneyard.shared.views.events import Event
from laneyard.shared.views.jobs import JobView, Transition
from laneyard.shared.views.status import Amount, ClusterStatus, LaneStatus, Status, WaitingTask

# Piped output is not cut to rich's default of 80 columns: ids would be squeezed into ellipses.
PIPE_WIDTH = 200

# The Console resolves sys.stderr at each write, so test runners that swap it see the output.
err = Console(stderr=True, highlight=False)


def out() -> Console:
    """A console on the current stdout: a terminal's width, else COLUMNS, else PIPE_WIDTH."""
    wide = sys.stdout.isatty() or "COLUMNS" in os.environ
    return Console(highlight=False, width=None if wide else PIPE_WIDTH)


STATE_STYLES = {
    "IN_QUEUE": "cyan",
    "WAITING": "blue",
    "RUNNING": "yellow",
    "AWAITING_SUBTASKS": "yellow",
    "COMPLETED": "green",
    "ERROR": "bold red",
    "CANCELLED": "magenta",
}


_DATETIME = TypeAdapter(datetime)


def plain(value: Any) -> Any:
    """A model as the API wrote it, key for key: a key the answer left out (a lane's ``throttled``
    in the status) stays out rather than coming back as null."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True)
    return str(value)


def print_json(data: Any) -> None:
    """Plain JSON on stdout, never colored or wrapped, so it can be piped to jq."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=plain) + "\n")
    sys.stdout.flush()


def add_row(table: Table, *cells: RenderableType) -> None:
    """Strings become plain Text: API values (a reason, a label) may hold "[...]", which is not markup."""
    table.add_row(*(Text(c) if isinstance(c, str) else c for c in cells))


def state_text(state: str | None) -> Text:
    return Text(str(state or "-"), style=STATE_STYLES.get(str(state), ""))


def short_time(at: datetime | None) -> str:
    """``2025-01-02T03:04:05.678Z`` -> ``2025-01-02 03:04:05``."""
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def iso(at: datetime | None) -> str:
    """The time as the API writes it (``2025-01-02T03:04:05.678000Z``)."""
    return str(_DATETIME.dump_python(at, mode="json")) if at else "-"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def labels_text(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def listing(title: str) -> Table:
    """A borderless table like kubectl's: 32-character ids leave little room for borders."""
    return Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold underline")


def event_line(event: Event) -> Text:
    """One state change: time, job, task, lane/cluster, state, attempt and what else it says."""
    line = Text(f"{short_time(event.time)}  {event.id}  {event.task or '-'}  {event.lane}/{event.cluster}  ")
    line.append_text(state_text(str(event.state)))
    line.append(f"  attempt {event.attempt}")
    if event.runner:
        line.append(f"  on {event.runner}")
    if event.reason:
        line.append(f"  ({event.reason})")
    return line


def jobs_table(jobs: Sequence[JobView]) -> Table:
    table = listing(f"{len(jobs)} job(s), newest first")
    table.add_column("ID", no_wrap=True, style="bold", min_width=32)
    table.add_column("TASK", no_wrap=True)
    table.add_column("STATE", no_wrap=True)
    table.add_column("LANE/CLUSTER", no_wrap=True)
    table.add_column("PRI", justify="right", no_wrap=True)
    table.add_column("TIER", no_wrap=True)
    table.add_column("TRY", justify="right", no_wrap=True)
    table.add_column("PROG", justify="right", no_wrap=True)
    table.add_column("CREATED UTC", no_wrap=True)
    table.add_column("LABELS", overflow="fold", min_width=6)
    for job in jobs:
        add_row(
            table,
            job.id,
            str(job.task),
            state_text(job.state),
            f"{job.lane}/{job.cluster}",
            str(job.priority),
            str(job.tier),
            str(job.attempt or 1),
            percent(job.progress),
            short_time(job.created_at)[5:],
            labels_text(job.labels),
        )
    return table


def percent(progress: float | None) -> str:
    return "-" if progress is None else f"{progress:.0%}"


def heartbeat_text(job: JobView) -> str | None:
    """Progress, status line and the age of the last heartbeat, as far as the task sent them."""
    parts = []
    if job.progress is not None:
        parts.append(percent(job.progress))
    if job.status_message:
        parts.append(job.status_message)
    if job.heartbeat_at is not None:
        age = (datetime.now(UTC) - job.heartbeat_at).total_seconds()
        parts.append(f"last heartbeat {seconds(max(0.0, age))} ago")
    return " · ".join(parts) or None


def _timeline(transitions: Sequence[Transition]) -> Table:
    table = Table(title="timeline (UTC)", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("ATTEMPT", justify="right")
    table.add_column("STATE")
    table.add_column("AT", no_wrap=True)
    table.add_column("+", justify="right")
    first = transitions[0].at if transitions else None
    for t in transitions:
        since = seconds((t.at - first).total_seconds()) if t.at is not None and first is not None else "-"
        add_row(table, str(t.attempt), state_text(t.state), iso(t.at), since)
    return table


def job_detail(job: JobView) -> RenderableType:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    add_row(facts, "id", job.id)
    add_row(facts, "task", str(job.task))
    add_row(facts, "state", state_text(job.state))
    add_row(facts, "lane / cluster", f"{job.lane} / {job.cluster}")
    add_row(facts, "priority / tier", f"{job.priority} / {job.tier}")
    add_row(facts, "attempt", f"{job.attempt or 1} of {(job.max_retries or 0) + 1}")
    add_row(facts, "runner", job.runner or "-")
    beat = heartbeat_text(job)
    if beat:
        add_row(facts, "progress", beat)
    if job.slots != 1:
        add_row(facts, "slots", str(job.slots))
    if job.heartbeat_timeout is not None:
        add_row(facts, "heartbeat_timeout", seconds(job.heartbeat_timeout))
    add_row(facts, "created", iso(job.created_at))
    for key, data in (("labels", job.labels), ("args", job.args)):
        if data:
            add_row(facts, key, json.dumps(data, default=str))
    links = {
        "parent_id": job.parent_id,
        "schedule_id": job.schedule_id,
        "replay_of": job.replay_of,
        "dead_letter": job.dead_letter,
        "reason": job.reason,
        "lost_runner": job.lost_runner,
        "waiting_for": job.waiting_for if job.state == "IN_QUEUE" else None,
    }
    for key, value in links.items():
        if value:
            add_row(facts, key, value)
    if job.subtasks:
        add_row(facts, "subtasks", json.dumps(job.subtasks))
    parts: list[RenderableType] = [facts]
    if job.transitions:
        parts += [Text(), _timeline(job.transitions)]
    if job.result is not None:
        parts += [Text(), Text("result", style="bold green"), Text(json.dumps(job.result, default=str))]
    if job.error:
        parts += [Text(), Text("error", style="bold red"), Text(job.error.rstrip())]
    return Group(*parts)


def lanes_table(lanes: Sequence[LaneStatus]) -> Table:
    table = Table(title="lanes", title_justify="left")
    table.add_column("LANE", no_wrap=True)
    table.add_column("CLUSTER", no_wrap=True)
    table.add_column("QUEUED", justify="right")
    table.add_column("THROTTLED", justify="right")
    paused = any(row.paused for row in lanes)
    if paused:  # a column only while something is paused: the usual table stays as it was
        table.add_column("PAUSED")
    for row in lanes:
        cells = [row.lane, row.cluster, queued_text(row), throttled_text(row)]
        add_row(table, *cells, *(["paused" if row.paused else ""] if paused else []))
    return table


def queued_text(row: LaneStatus) -> str:
    return "?" if row.queued is None else str(row.queued)


def throttled_text(row: LaneStatus) -> str:
    """Blank for a lane never throttled (the API leaves the count out)."""
    return "" if row.throttled is None else str(row.throttled)


def _used(part: Amount) -> str:
    return f"{part.used}/{part.total}"


def clusters_capacity_table(clusters: Mapping[str, ClusterStatus]) -> Table:
    table = Table(title="clusters (used/total)", title_justify="left")
    table.add_column("CLUSTER", no_wrap=True)
    table.add_column("RUNNERS idle/busy/draining", justify="right")
    table.add_column("RUNNING", justify="right")
    table.add_column("SLOTS", justify="right")
    table.add_column("CPU (m)", justify="right")
    table.add_column("MEMORY (MiB)", justify="right")
    table.add_column("FREE SLOTS", justify="right")
    for slug, c in clusters.items():
        runners, cap = c.runners, c.capacity
        add_row(
            table,
            f"{slug} (paused)" if c.paused else slug,
            f"{runners.idle}/{runners.busy}/{runners.draining}",
            str(c.running_jobs),
            _used(cap.slots),
            _used(cap.cpu_millicores),
            _used(cap.memory_mib),
            str(cap.slots.free),
        )
    return table


def waiting_table(waiting: Sequence[WaitingTask]) -> Table:
    table = Table(
        title="tasks no living runner offers, or none is big enough for", title_justify="left", style="yellow"
    )
    table.add_column("CLUSTER")
    table.add_column("TASK")
    table.add_column("WAITING FOR")
    for w in waiting:
        add_row(table, w.cluster, w.task, "a bigger runner" if w.bigger_runner else "a runner that offers it")
    return table


def status_view(status: Status) -> RenderableType:
    parts: list[RenderableType] = [lanes_table(status.lanes), clusters_capacity_table(status.clusters)]
    if status.waiting_for_runner:
        parts.append(waiting_table(status.waiting_for_runner))
    return Group(*parts)


def clusters_table(clusters: Sequence[ClusterView]) -> Table:
    table = listing(f"{len(clusters)} cluster(s)")
    table.add_column("SLUG", no_wrap=True, style="bold")
    table.add_column("NAME")
    table.add_column("CREATED (UTC)", no_wrap=True)
    for c in clusters:
        add_row(table, c.slug, c.name or "", short_time(c.created_at))
    return table


def dead_letters_table(items: Sequence[DeadLetterItem]) -> Table:
    table = listing(f"{len(items)} dead letter(s), newest first")
    table.add_column("ID", no_wrap=True, style="bold")
    table.add_column("JOB", no_wrap=True)
    table.add_column("SOURCE")
    table.add_column("RECORDED (UTC)", no_wrap=True)
    table.add_column("REPLAYED")
    table.add_column("REASON", overflow="fold")
    for d in items:
        replay = d.replay_job_id
        replayed = f"yes -> {replay}" if replay else ("yes" if d.replayed else "no")
        add_row(
            table,
            d.id,
            d.job_id or "-",
            str(d.source),
            short_time(d.recorded_at),
            replayed,
            d.reason or "",
        )
    return table
