"""``laneyard logs``: a job's log lines, every attempt in order, or followed while it runs.

The API pages one attempt's lines by sequence number (``?attempt=N&after=<seq>`` answering
``lines``, ``next`` and ``done``). An older server answers every line at once without ``next``;
that is handled too, by printing what was not printed yet on each poll.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer

from laneyard.services.cli.api_client import ApiClient, ApiKeyOption, UrlOption, api
from laneyard.services.cli.exit_codes import ExitCode
from laneyard.shared.states import TERMINAL

IDLE_POLL = 0.5  # how long a follower waits when a poll brought no line
PAGE = 1000


class Printer:
    def __init__(self, as_json: bool, timestamps: bool) -> None:
        self.as_json = as_json
        self.timestamps = timestamps

    def line(self, line: dict[str, Any], attempt: int | None) -> None:
        # Both the paged shape (seq/ts/stream/line) and the older one (t/s/m) are read.
        text = str(line.get("line", line.get("m", "")))
        if self.as_json:
            row = {**line, "attempt": line.get("attempt", attempt)}
            sys.stdout.write(json.dumps(row, default=str) + "\n")
        elif self.timestamps:
            sys.stdout.write(f"{line.get('ts', line.get('t')) or '-'} {text}\n")
        else:
            # Written as is, never through rich: a log line is data, and "[red]" in it is not markup.
            sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def attempt(self, attempt: int) -> None:
        if not self.as_json:
            print(f"--- attempt {attempt} ---", file=sys.stderr, flush=True)


def paged(reply: Any) -> bool:
    return isinstance(reply, dict) and "next" in reply


def _read_attempt(
    client: ApiClient, job_id: str, attempt: int, printer: Printer, follow: bool
) -> dict[str, Any]:
    """Prints one attempt's lines; when following, until that attempt can have no more."""
    after = 0
    while True:
        reply: dict[str, Any] = client.get(
            f"/v1/jobs/{job_id}/logs", attempt=attempt, after=after, limit=PAGE
        )
        lines = reply.get("lines") or []
        for line in lines:
            printer.line(line, attempt)
        after = int(reply.get("next") or after)
        if lines:
            continue  # there may be a further page right away
        attempts = int(reply.get("attempts") or attempt)
        if reply.get("done") or attempts > attempt or not follow:
            return reply
        time.sleep(IDLE_POLL)


def _paged_logs(
    client: ApiClient, job_id: str, first: dict[str, Any], only: int | None, printer: Printer, follow: bool
) -> None:
    attempts = int(first.get("attempts") or first.get("attempt") or 1)
    attempt = only or 1
    while True:
        if only is None and (attempts > 1 or attempt > 1):
            printer.attempt(attempt)
        # When following, this returns only once the attempt is over (done, or a retry began).
        reply = _read_attempt(client, job_id, attempt, printer, follow)
        attempts = int(reply.get("attempts") or attempts)
        if only is not None or attempt >= attempts:
            return
        attempt += 1


def _unpaged_logs(client: ApiClient, job_id: str, first: Any, printer: Printer, follow: bool) -> None:
    """An older server: the whole log on every call; printed past what was printed before."""
    printed = 0
    reply = first
    while True:
        lines = reply if isinstance(reply, list) else (reply.get("lines") or [])
        for line in lines[printed:]:
            printer.line(line, None)
        printed = max(printed, len(lines))
        if not follow:
            return
        state = reply.get("state") if isinstance(reply, dict) else None
        if state is None:
            state = client.get(f"/v1/jobs/{job_id}").get("state")
        if state in TERMINAL:
            # One last read: lines stored just before the end are not lost.
            last = client.get(f"/v1/jobs/{job_id}/logs")
            lines = last if isinstance(last, list) else (last.get("lines") or [])
            for line in lines[printed:]:
                printer.line(line, None)
            return
        time.sleep(IDLE_POLL)
        reply = client.get(f"/v1/jobs/{job_id}/logs")


def logs(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="job id")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing until the job ends")] = False,
    attempt: Annotated[int | None, typer.Option(min=1, help="only this attempt [default: all]")] = None,
    timestamps: Annotated[
        bool, typer.Option("--timestamps", "-t", help="prefix each line with its time")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line (NDJSON)")] = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Print a job's log lines; with --follow, stream them while it runs."""
    printer = Printer(as_json, timestamps)
    with api(url, api_key) as client:
        try:
            first = client.get(f"/v1/jobs/{job_id}/logs", attempt=attempt, limit=1)
            if paged(first):
                _paged_logs(client, job_id, first, attempt, printer, follow)
            else:
                _unpaged_logs(client, job_id, first, printer, follow)
        except KeyboardInterrupt:
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)
