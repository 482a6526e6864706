"""``laneyard top``: a live view of lanes, clusters, runners and throughput, redrawn every second.

Throughput is read from the jobs themselves, not from a counter: ``/v1/status`` has no completed
count, and keeping one there would mean counting jobs by state, a full scan on a store that
indexes only ``_id``. Instead each frame lists the newest COMPLETED jobs (one page) and counts the
completions stamped in the last ``WINDOW`` seconds. That needs no state between frames, so
``--once`` shows it too; when the page is full the rate is taken over the span the page covers.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from laneyard.services.cli import render
from laneyard.services.cli.api_client import ApiClient, ApiError, ApiKeyOption, UrlOption, api
from laneyard.shared.states import JobState
from laneyard.shared.views.jobs import JobView
from laneyard.shared.views.status import Amount, Capacity, ClusterStatus, LaneStatus, Status

WINDOW = 10.0  # seconds of completions a throughput figure covers
PAGE = 500  # newest completed jobs read per frame (the API's largest page)
HISTORY = 60  # throughput figures kept for the sparkline
SPARKS = "▁▂▃▄▅▆▇█"
LANE_BAR = 30  # columns of the queued bar, full for the deepest lane
METER = 10  # columns of a capacity meter
RESOURCES: tuple[tuple[str, Callable[[Capacity], Amount]], ...] = (
    ("SLOTS", lambda cap: cap.slots),
    ("CPU millicores", lambda cap: cap.cpu_millicores),
    ("MEMORY MiB", lambda cap: cap.memory_mib),
)


@dataclass
class Sample:
    at: float
    status: Status | None = None
    rate: float | None = None
    error: ApiError | None = None


@dataclass
class History:
    rates: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))

    def add(self, sample: Sample) -> None:
        if sample.rate is not None:
            self.rates.append(sample.rate)


def completed_at(job: JobView) -> float | None:
    for t in reversed(job.transitions):
        if t.state == JobState.COMPLETED:
            return t.at.timestamp() if t.at else None
    return job.updated_at.timestamp() if job.updated_at else None


def throughput(stamps: list[float], now: float, page_full: bool) -> float:
    """Completions per second over the last WINDOW seconds (or the span a full page covers)."""
    recent = [s for s in stamps if s >= now - WINDOW]
    if not recent:
        return 0.0
    span = WINDOW
    if page_full and len(recent) == len(stamps):
        # Every completion on the page is recent, so older ones may be missing: use what it spans.
        span = max(0.5, now - min(recent))
    return len(recent) / span


def fetch(client: ApiClient) -> Sample:
    now = time.time()
    try:
        status = client.status()
        jobs = client.job_page(state=JobState.COMPLETED, limit=PAGE).jobs
    except ApiError as exc:
        return Sample(now, error=exc)
    stamps = [s for s in (completed_at(j) for j in jobs) if s is not None]
    return Sample(now, status, throughput(stamps, now, len(jobs) >= PAGE))


def sparkline(values: list[float]) -> str:
    if not values:
        return ""
    top = max(values) or 1.0
    return "".join(SPARKS[min(len(SPARKS) - 1, int(v / top * (len(SPARKS) - 1) + 0.5))] for v in values)


def bar(used: int, total: int, width: int = METER) -> RenderableType:
    """A small meter and ``used/total``, colored by how full it is."""
    label = f"{used}/{total}"
    row = Table.grid(padding=(0, 1))
    row.add_column(width=width, no_wrap=True)
    row.add_column(justify="right", no_wrap=True, min_width=len(label))
    ratio = used / total if total else 0.0
    style = "red" if ratio >= 0.9 else ("yellow" if ratio >= 0.6 else "green")
    meter = ProgressBar(
        total=max(total, 1), completed=used, width=width, complete_style=style, finished_style=style
    )
    row.add_row(meter, label)
    return row


def lanes_panel(lanes: Sequence[LaneStatus]) -> Table:
    table = Table(title="lanes", title_justify="left")
    table.add_column("LANE", no_wrap=True)
    table.add_column("CLUSTER", no_wrap=True)
    table.add_column("QUEUED", justify="right")
    table.add_column("THROTTLED", justify="right")
    table.add_column("", width=LANE_BAR, no_wrap=True)
    deepest = max([r.queued or 0 for r in lanes] + [1])
    for row in lanes:
        render.add_row(
            table,
            row.lane,
            row.cluster,
            render.queued_text(row),
            render.throttled_text(row),
            ProgressBar(
                total=deepest,
                completed=row.queued or 0,
                width=LANE_BAR,
                complete_style="cyan",
                finished_style="cyan",
            ),
        )
    if not lanes:
        render.add_row(table, "(no lane has had a job yet)", "", "", "", "")
    return table


def clusters_panel(clusters: Mapping[str, ClusterStatus]) -> Table:
    table = Table(title="clusters and runners", title_justify="left")
    table.add_column("CLUSTER", no_wrap=True)
    table.add_column("RUNNERS idle", justify="right", no_wrap=True)
    table.add_column("busy", justify="right", no_wrap=True)
    for title, part in RESOURCES:
        # Wide enough for the meter and the longest "used/total", so neither is ever cut.
        totals = [part(c.capacity).total for c in clusters.values()]
        longest = max([len(f"{t}/{t}") for t in totals] + [3])
        table.add_column(f"{title} used/total", no_wrap=True, min_width=METER + 1 + longest)
    for slug, c in clusters.items():
        draining = c.runners.draining
        cells: list[RenderableType] = [
            slug + (f" ({draining} draining)" if draining else ""),
            Text(str(c.runners.idle), style="green"),
            Text(str(c.runners.busy), style="yellow"),
        ]
        for _, part in RESOURCES:
            cells.append(bar(part(c.capacity).used, part(c.capacity).total))
        render.add_row(table, *cells)
    return table


def header(sample: Sample, url: str, history: History) -> Text:
    text = Text()
    text.append("laneyard top", style="bold")
    text.append(f"  {url}  ", style="dim")
    text.append(datetime.fromtimestamp(sample.at, UTC).strftime("%H:%M:%S UTC"))
    if sample.status is not None:
        queued = sum(r.queued or 0 for r in sample.status.lanes)
        running = sum(c.running_jobs for c in sample.status.clusters.values())
        text.append("\nqueued ")
        text.append(str(queued), style="bold cyan")
        text.append("  running ")
        text.append(str(running), style="bold yellow")
    if sample.rate is not None:
        text.append("  completed ")
        text.append(f"{sample.rate:.1f}/s", style="bold green")
        text.append(f" (last {WINDOW:.0f} s)  ", style="dim")
        text.append(sparkline(list(history.rates)), style="green")
    return text


def frame(sample: Sample, url: str, history: History, live: bool) -> RenderableType:
    parts: list[RenderableType] = [header(sample, url, history)]
    if sample.error:
        parts.append(Text(f"{sample.error.message}; retrying", style="bold red"))
    if sample.status is not None:
        parts.append(lanes_panel(sample.status.lanes))
        parts.append(clusters_panel(sample.status.clusters))
        if sample.status.waiting_for_runner:
            parts.append(render.waiting_table(sample.status.waiting_for_runner))
    if live:
        parts.append(Text("Ctrl-C quits", style="dim"))
    return Group(*parts)


def top(
    once: Annotated[bool, typer.Option("--once", help="print one frame and exit")] = False,
    interval: Annotated[float, typer.Option(min=0.2, max=60, help="seconds between frames")] = 1.0,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """A live view of lanes, clusters, runners and throughput (like top)."""
    history = History()
    with api(url, api_key) as client:
        if once:
            sample = fetch(client)
            if sample.error:
                raise sample.error
            history.add(sample)
            render.out().print(frame(sample, client.url, history, live=False))
            return
        try:
            sample = fetch(client)
            history.add(sample)
            with Live(
                frame(sample, client.url, history, live=True),
                console=render.out(),
                screen=True,
                auto_refresh=False,
            ) as view:
                while True:
                    time.sleep(max(0.0, sample.at + interval - time.time()))
                    sample = fetch(client)
                    history.add(sample)
                    view.update(frame(sample, client.url, history, live=True), refresh=True)
        except KeyboardInterrupt:
            return


def register(app: typer.Typer) -> None:
    app.command("top")(top)
