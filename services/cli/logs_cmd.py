"""``laneyard logs``: a job's log lines, every attempt in order, or followed while it runs.

The client reads the log a page at a time (``Client.log_pages``); each page says which attempt its
lines are of and how many attempts there are, which is all the headers between attempts need.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from laneyard.services.cli import render
from laneyard.services.cli.api_client import ApiClient, ApiKeyOption, UrlOption, api
from laneyard.services.cli.exit_codes import ExitCode
from laneyard.shared.views.jobs import LogLine


class Printer:
    def __init__(self, as_json: bool, timestamps: bool) -> None:
        self.as_json = as_json
        self.timestamps = timestamps

    def line(self, line: LogLine, attempt: int) -> None:
        text = line.line or ""
        if self.as_json:
            row = {**line.model_dump(mode="json"), "attempt": attempt}
            sys.stdout.write(json.dumps(row, default=str) + "\n")
        elif self.timestamps:
            sys.stdout.write(f"{render.iso(line.ts)} {text}\n")
        else:
            # Written as is, never through rich: a log line is data, and "[red]" in it is not markup.
            sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def attempt(self, attempt: int) -> None:
        if not self.as_json:
            print(f"--- attempt {attempt} ---", file=sys.stderr, flush=True)


def print_logs(client: ApiClient, job_id: str, only: int | None, printer: Printer, follow: bool) -> None:
    """Every attempt's lines from the first (or attempt ``only``'s); when following, until the job has
    ended and every line was printed."""
    shown: int | None = None
    for page in client.log_pages(job_id, attempt=only, all_attempts=True, follow=follow):
        if page.attempt != shown:
            shown = page.attempt
            # A job that has had one attempt shows its lines bare; once there are retries, each
            # attempt's lines come under a header.
            if only is None and (page.attempts > 1 or page.attempt > 1):
                printer.attempt(page.attempt)
        for line in page.lines:
            printer.line(line, page.attempt)


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
            print_logs(client, job_id, attempt, printer, follow)
        except KeyboardInterrupt:
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)
