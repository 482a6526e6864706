"""How API answers look in a terminal: rich tables, and plain JSON for ``--json``.

Tables go to stdout through ``out``; progress, live lines and errors go to stderr through ``err``,
so that ``laneyard submit ... | xargs`` and ``--json`` output stay clean.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

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
    "COMPLETED": "green",
    "ERROR": "bold red",
    "CANCELLED": "magenta",
}


def print_json(data: Any) -> None:
    """Plain JSON on stdout, never colored or wrapped, so it can be piped to jq."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def add_row(table: Table, *cells: RenderableType) -> None:
    """Strings become plain Text: API values (a reason, a label) may hold "[...]", which is not markup."""
    table.add_row(*(Text(c) if isinstance(c, str) else c for c in cells))


def state_text(state: str | None) -> Text:
    return Text(str(state or "-"), style=STATE_STYLES.get(str(state), ""))


def short_time(at: str | None) -> str:
    """``2025-01-02T03:04:05.678Z`` -> ``2025-01-02 03:04:05``."""
    if not at:
        return "-"
    return at.replace("T", " ").split(".")[0].rstrip("Z")


def parse_time(at: str | None) -> float | None:
    if not at:
        return None
    try:
        return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def labels_text(labels: dict[str, Any] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or ""


def listing(title: str) -> Table:
    """A borderless table like kubectl's: 32-character ids leave little room for borders."""
    return Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold underline")


def jobs_table(jobs: list[dict[str, Any]]) -> Table:
    table = listing(f"{len(jobs)} job(s), newest first")
    table.add_column("ID", no_wrap=True, style="bold", min_width=32)
    table.add_column("TASK", no_wrap=True)
    table.add_column("STATE", no_wrap=True)
    table.add_column("LANE/CLUSTER", no_wrap=True)
    table.add_column("PRI", justify="right", no_wrap=True)
    table.add_column("TIER", no_wrap=True)
    table.add_column("TRY", justify="right", no_wrap=True)
    table.add_column("CREATED UTC", no_wrap=True)
    table.add_column("LABELS", overflow="fold", min_width=6)
    for job in jobs:
        add_row(
            table,
            str(job.get("id")),
            str(job.get("task")),
            state_text(job.get("state")),
            f"{job.get('lane')}/{job.get('cluster')}",
            str(job.get("priority")),
            str(job.get("tier")),
            str(job.get("attempt") or 1),
            short_time(job.get("created_at"))[5:],
            labels_text(job.get("labels")),
        )
    return table


def _timeline(transitions: list[dict[str, Any]]) -> Table:
    table = Table(title="timeline (UTC)", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("ATTEMPT", justify="right")
    table.add_column("STATE")
    table.add_column("AT", no_wrap=True)
    table.add_column("+", justify="right")
    first = parse_time(transitions[0].get("at")) if transitions else None
    for t in transitions:
        at = parse_time(t.get("at"))
        since = seconds(at - first) if at is not None and first is not None else "-"
        add_row(table, str(t.get("attempt")), state_text(t.get("state")), str(t.get("at") or "-"), since)
    return table


def job_detail(job: dict[str, Any]) -> RenderableType:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    add_row(facts, "id", str(job.get("id")))
    add_row(facts, "task", str(job.get("task")))
    add_row(facts, "state", state_text(job.get("state")))
    add_row(facts, "lane / cluster", f"{job.get('lane')} / {job.get('cluster')}")
    add_row(facts, "priority / tier", f"{job.get('priority')} / {job.get('tier')}")
    add_row(facts, "attempt", f"{job.get('attempt') or 1} of {int(job.get('max_retries') or 0) + 1}")
    add_row(facts, "runner", str(job.get("runner") or "-"))
    add_row(facts, "created", str(job.get("created_at") or "-"))
    for key in ("labels", "args"):
        if job.get(key):
            add_row(facts, key, json.dumps(job[key], default=str))
    for key in ("parent_id", "schedule_id", "replay_of", "dead_letter", "reason"):
        if job.get(key):
            add_row(facts, key, str(job[key]))
    if job.get("subtasks"):
        add_row(facts, "subtasks", json.dumps(job["subtasks"], default=str))
    parts: list[RenderableType] = [facts]
    if job.get("transitions"):
        parts += [Text(), _timeline(job["transitions"])]
    if job.get("result") is not None:
        parts += [Text(), Text("result", style="bold green"), Text(json.dumps(job["result"], default=str))]
    if job.get("error"):
        parts += [Text(), Text("error", style="bold red"), Text(str(job["error"]).rstrip())]
    return Group(*parts)


def lanes_table(lanes: list[dict[str, Any]]) -> Table:
    table = Table(title="lanes", title_justify="left")
    table.add_column("LANE", no_wrap=True)
    table.add_column("CLUSTER", no_wrap=True)
    table.add_column("QUEUED", justify="right")
    table.add_column("THROTTLED", justify="right")
    for row in lanes:
        queued = row.get("queued")
        add_row(
            table,
            str(row.get("lane")),
            str(row.get("cluster")),
            "?" if queued is None else str(queued),
            str(row.get("throttled", "")),
        )
    return table


def _used(part: dict[str, Any], unit: str = "") -> str:
    return f"{part.get('used', 0)}/{part.get('total', 0)}{unit}"


def clusters_capacity_table(clusters: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="clusters (used/total)", title_justify="left")
    table.add_column("CLUSTER", no_wrap=True)
    table.add_column("RUNNERS idle/busy/draining", justify="right")
    table.add_column("RUNNING", justify="right")
    table.add_column("SLOTS", justify="right")
    table.add_column("CPU (m)", justify="right")
    table.add_column("MEMORY (MiB)", justify="right")
    table.add_column("FREE SLOTS", justify="right")
    for slug, c in clusters.items():
        runners = c.get("runners") or {}
        cap = c.get("capacity") or {}
        slots = cap.get("slots") or {}
        add_row(
            table,
            slug,
            f"{runners.get('idle', 0)}/{runners.get('busy', 0)}/{runners.get('draining', 0)}",
            str(c.get("running_jobs", 0)),
            _used(slots),
            _used(cap.get("cpu_millicores") or {}),
            _used(cap.get("memory_mib") or {}),
            str(slots.get("free", 0)),
        )
    return table


def waiting_table(waiting: list[dict[str, Any]]) -> Table:
    table = Table(title="tasks no living runner offers", title_justify="left", style="yellow")
    table.add_column("CLUSTER")
    table.add_column("TASK")
    for w in waiting:
        add_row(table, str(w.get("cluster")), str(w.get("task")))
    return table


def status_view(status: dict[str, Any]) -> RenderableType:
    parts: list[RenderableType] = [
        lanes_table(status.get("lanes") or []),
        clusters_capacity_table(status.get("clusters") or {}),
    ]
    if status.get("waiting_for_runner"):
        parts.append(waiting_table(status["waiting_for_runner"]))
    return Group(*parts)


def clusters_table(clusters: list[dict[str, Any]]) -> Table:
    table = listing(f"{len(clusters)} cluster(s)")
    table.add_column("SLUG", no_wrap=True, style="bold")
    table.add_column("NAME")
    table.add_column("CREATED (UTC)", no_wrap=True)
    for c in clusters:
        add_row(table, str(c.get("slug")), str(c.get("name") or ""), short_time(c.get("created_at")))
    return table


def dead_letters_table(items: list[dict[str, Any]]) -> Table:
    table = listing(f"{len(items)} dead letter(s), newest first")
    table.add_column("ID", no_wrap=True, style="bold")
    table.add_column("JOB", no_wrap=True)
    table.add_column("SOURCE")
    table.add_column("RECORDED (UTC)", no_wrap=True)
    table.add_column("REPLAYED")
    table.add_column("REASON", overflow="fold")
    for d in items:
        replay = d.get("replay_job_id")
        replayed = f"yes -> {replay}" if replay else ("yes" if d.get("replayed") else "no")
        add_row(
            table,
            str(d.get("id")),
            str(d.get("job_id") or "-"),
            str(d.get("source")),
            short_time(d.get("recorded_at")),
            replayed,
            str(d.get("reason") or ""),
        )
    return table
