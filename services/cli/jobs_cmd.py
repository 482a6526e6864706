"""Jobs from the command line: submit (one, many, or and wait), list, show, cancel."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from laneyard.client import SubmitOptions, calls
from laneyard.services.cli import render
from laneyard.services.cli.api_client import ApiClient, ApiKeyOption, JsonOption, UrlOption, api, fail
from laneyard.services.cli.exit_codes import ExitCode, for_state
from laneyard.shared.models import SubmitResult
from laneyard.shared.states import TERMINAL, JobState
from laneyard.shared.tiers import Tier
from laneyard.shared.views.jobs import JobPage, JobView

# Bulk submission and bulk waiting use this many requests at once: enough to hide round trips,
# few enough not to look like a flood to admission's rate limits.
CONCURRENCY = 8
MAX_COUNT = 100_000
PAGE = 500  # the API's largest page
POLL_FIRST, POLL_MAX = 0.1, 1.0
WAIT_SAMPLE = 50  # unfinished jobs polled per round when waiting for many

LabelOption = Annotated[
    list[str] | None, typer.Option("--label", "-l", help="key=value; repeat for several", show_default=False)
]


def parse_labels(raw: list[str] | None) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in raw or []:
        key, sep, value = item.partition("=")
        if not sep:
            key, sep, value = item.partition(":")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not key=value", param_hint="--label")
        labels[key] = value
    return labels


def parse_args(text: str | None) -> dict[str, Any]:
    """``--args`` as a JSON object, or ``@path`` to read it from a file."""
    if text is None:
        return {}
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot read {text[1:]!r}: {exc.strerror}", param_hint="--args"
            ) from exc
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--args") from exc
    if not isinstance(value, dict):
        raise typer.BadParameter("must be a JSON object, e.g. '{\"n\": 3}'", param_hint="--args")
    return value


def admit(client: ApiClient, body: dict[str, Any]) -> SubmitResult:
    """Submits one job body (made by ``calls.submission``, so a retry never makes a second job)."""
    return client.send(calls.submit(body))


def copies(task: str, args: dict[str, Any], options: SubmitOptions, count: int) -> list[dict[str, Any]]:
    """``count`` bodies of one job, each with its own idempotency key: with a key given, ``<key>-<n>``,
    so that running the same command again makes no new jobs."""
    key = options.get("idempotency_key")
    bodies = []
    for i in range(count):
        body = calls.submission(task, args, options)
        if key:
            body["idempotency_key"] = f"{key}-{i}"
        bodies.append(body)
    return bodies


def wait_one(client: ApiClient, job_id: str, timeout: float | None) -> JobView:
    """Polls the job until it ends, showing its state on one live line (on stderr)."""
    started = time.monotonic()
    delay = POLL_FIRST
    with render.err.status(f"{job_id} submitted") as live:
        while True:
            job = client.get(job_id)
            if job.state in TERMINAL:
                return job
            where = f" on {job.runner}" if job.runner and job.state == JobState.RUNNING else ""
            attempt = f" (attempt {job.attempt})" if (job.attempt or 1) > 1 else ""
            elapsed = time.monotonic() - started
            live.update(f"{job_id} [bold]{job.state}[/]{where}{attempt}  {elapsed:.1f}s")
            if timeout is not None and elapsed > timeout:
                return job
            time.sleep(delay)
            delay = min(POLL_MAX, delay * 1.5)


def wait_many(client: ApiClient, ids: list[str], timeout: float | None) -> dict[str, str]:
    """Final states of many jobs, with a progress bar of how many have ended."""
    states: dict[str, str] = {}
    unfinished = list(ids)
    started = time.monotonic()
    columns = (TextColumn("waiting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        Progress(*columns, console=render.err) as progress,
        ThreadPoolExecutor(CONCURRENCY) as pool,
    ):
        bar = progress.add_task("waiting", total=len(ids))
        while unfinished:
            sample = unfinished[:WAIT_SAMPLE]
            for job in pool.map(client.get, sample):
                if job.state in TERMINAL:
                    states[job.id] = job.state
                    progress.advance(bar)
            unfinished = [j for j in unfinished if j not in states]
            if timeout is not None and time.monotonic() - started > timeout:
                break
            if unfinished:
                time.sleep(0.5)
    return states


def submit_many(client: ApiClient, bodies: list[dict[str, Any]]) -> list[SubmitResult]:
    """Submits concurrently, in order of the results, with a progress bar (on stderr)."""
    results: list[SubmitResult | None] = [None] * len(bodies)
    columns = (TextColumn("submitting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        Progress(*columns, console=render.err, transient=False) as progress,
        ThreadPoolExecutor(CONCURRENCY) as pool,
    ):
        bar = progress.add_task("submit", total=len(bodies))
        # Submitted in windows, so that a failure stops the run early and memory stays bounded.
        for start in range(0, len(bodies), CONCURRENCY * 16):
            window = range(start, min(len(bodies), start + CONCURRENCY * 16))
            futures = {pool.submit(admit, client, bodies[i]): i for i in window}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                progress.advance(bar)
    return [r for r in results if r is not None]


def worst(states: list[str]) -> ExitCode:
    """The exit code for a set of final states: any ERROR, else any CANCELLED, else any unfinished."""
    codes = [for_state(s) if s in TERMINAL else ExitCode.TIMEOUT for s in states]
    for code in (ExitCode.JOB_FAILED, ExitCode.CANCELLED, ExitCode.TIMEOUT):
        if code in codes:
            return code
    return ExitCode.OK


def submit(
    task: Annotated[str, typer.Argument(help="registered task name, e.g. demo.sleep")],
    args: Annotated[
        str | None, typer.Option("--args", "-a", help="task arguments: a JSON object, or @file.json")
    ] = None,
    lane: Annotated[str | None, typer.Option(help="lane [server default: main]")] = None,
    cluster: Annotated[str | None, typer.Option(help="cluster slug [server default: default]")] = None,
    priority: Annotated[int | None, typer.Option(min=0, max=9, help="0-9, 9 first [default: 5]")] = None,
    tier: Annotated[Tier | None, typer.Option(case_sensitive=False, help="resource tier")] = None,
    max_execution_time: Annotated[float | None, typer.Option(min=0.001, help="seconds")] = None,
    max_retries: Annotated[int | None, typer.Option(min=0, max=100)] = None,
    retry_backoff: Annotated[float | None, typer.Option(min=0, help="first retry delay, seconds")] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="a repeat with the same key returns the first job")
    ] = None,
    label: LabelOption = None,
    retention_days: Annotated[
        float | None, typer.Option(min=0.0001, help="days kept once ended (default: the lane's, else 30)")
    ] = None,
    callback_url: Annotated[
        str | None, typer.Option(help="POST the job's end here, signed (docs/webhooks.md)")
    ] = None,
    concurrency_key: Annotated[
        str | None, typer.Option(help="at most its limit of jobs with this key run at once")
    ] = None,
    count: Annotated[
        int, typer.Option(min=1, max=MAX_COUNT, help="submit this many copies (progress bar)")
    ] = 1,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="wait for the end; exit code tells it")] = False,
    timeout: Annotated[
        float | None, typer.Option(min=0, help="with --wait: give up after this many seconds (exit 124)")
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Submit a job and print its id. With --wait: exit 0 COMPLETED, 1 ERROR, 3 CANCELLED."""
    task_args = parse_args(args)
    given = {
        "lane": lane,
        "cluster": cluster,
        "priority": priority,
        "tier": tier,
        "max_execution_time": max_execution_time,
        "max_retries": max_retries,
        "retry_backoff": retry_backoff,
        "idempotency_key": idempotency_key,
        "labels": parse_labels(label) or None,
        "retention_days": retention_days,
        "callback_url": callback_url,
        "concurrency_key": concurrency_key,
    }
    # Only what was given: the server's defaults fill the rest.
    options = cast(SubmitOptions, {k: v for k, v in given.items() if v is not None})
    with api(url, api_key) as client:
        if count > 1:
            bodies = copies(task, task_args, options, count)
            _submit_bulk(client, bodies, wait=wait, timeout=timeout, as_json=as_json)
            return
        result = admit(client, calls.submission(task, task_args, options))
        job_id = result.id
        if result.duplicate:
            render.err.print(
                f"duplicate: the idempotency key was used by job {job_id}, returned as is", markup=False
            )
        if not wait:
            if as_json:
                render.print_json(result)
            else:
                print(job_id, flush=True)
            return
        if not as_json:
            print(job_id, flush=True)
        try:
            job = wait_one(client, job_id, timeout)
        except KeyboardInterrupt:
            fail(f"stopped waiting; job {job_id} goes on (laneyard cancel stops it)", ExitCode.INTERRUPTED)
        state = job.state
        if as_json:
            render.print_json(job)
        else:
            # markup=False: an error message or a result may hold "[...]" that is not rich markup.
            render.err.print(f"{job_id} ", render.state_text(state), _outcome(job), sep="", markup=False)
    code = for_state(state) if state in TERMINAL else ExitCode.TIMEOUT
    if code is not ExitCode.OK:
        raise typer.Exit(int(code))


def _outcome(job: JobView) -> str:
    if job.state == JobState.COMPLETED and job.result is not None:
        return f"  result {json.dumps(job.result, default=str)[:200]}"
    if job.error:
        return f"  {job.error.strip().splitlines()[-1][:200]}"
    if job.state not in TERMINAL:
        return "  (still unfinished: --timeout ran out)"
    return f"  {job.reason or ''}".rstrip()


def _submit_bulk(
    client: ApiClient, bodies: list[dict[str, Any]], *, wait: bool, timeout: float | None, as_json: bool
) -> None:
    results = submit_many(client, bodies)
    ids = [r.id for r in results]
    if not as_json:
        print("\n".join(ids), flush=True)
    if not wait:
        if as_json:
            render.print_json(results)
        return
    try:
        states = wait_many(client, ids, timeout)
    except KeyboardInterrupt:
        fail(f"stopped waiting; the {len(ids)} jobs go on", ExitCode.INTERRUPTED)
    final = [states.get(j, "UNFINISHED") for j in ids]
    if as_json:
        render.print_json([{"id": j, "state": s} for j, s in zip(ids, final, strict=True)])
    else:
        counts = {s: final.count(s) for s in sorted(set(final))}
        render.err.print("  ".join(f"{s} {n}" for s, n in counts.items()))
    code = worst(final)
    if code is not ExitCode.OK:
        raise typer.Exit(int(code))


def list_jobs(
    state: Annotated[
        JobState | None, typer.Option(case_sensitive=False, help="only jobs in this state")
    ] = None,
    lane: Annotated[str | None, typer.Option(help="only this lane")] = None,
    cluster: Annotated[str | None, typer.Option(help="only this cluster")] = None,
    label: LabelOption = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="at most this many, newest first")] = 50,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="then print every state change as it happens (Ctrl-C ends)")
    ] = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """List jobs, newest first; with --watch, follow their state changes from the event stream."""
    labels = parse_labels(label)
    found: list[JobView] = []
    cursor: str | None = None
    with api(url, api_key) as client:
        while len(found) < limit:
            page = client.job_page(
                state=state,
                lane=lane,
                cluster=cluster,
                label=labels,
                cursor=cursor,
                limit=min(PAGE, limit - len(found)),
            )
            found += page.jobs
            cursor = page.next_cursor
            if not cursor:
                break
    if as_json:
        render.print_json(JobPage(jobs=found, next_cursor=cursor))
    else:
        render.out().print(render.jobs_table(found))
    if watch:
        watch_events(url, api_key, lane=lane, cluster=cluster, labels=labels, state=state, as_json=as_json)


def watch_events(
    url: str | None,
    api_key: str | None,
    *,
    lane: str | None,
    cluster: str | None,
    labels: dict[str, str],
    state: JobState | None,
    as_json: bool,
) -> None:
    """State changes from ``GET /v1/events`` (resumed across reconnects by the client), one per
    line, until interrupted."""
    with api(url, api_key) as client:
        try:
            for event in client.events(lane=lane, cluster=cluster, labels=labels or None):
                if state is not None and event.state is not state:
                    continue
                if as_json:
                    typer.echo(event.model_dump_json())  # one event per line, for scripts
                else:
                    render.out().print(render.event_line(event))
        except KeyboardInterrupt:
            return


def show_job(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="job id")],
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Show one job: its state, timeline, runner, attempts, and result or error."""
    with api(url, api_key) as client:
        job = client.get(job_id)
    if as_json:
        render.print_json(job)
    else:
        render.out().print(render.job_detail(job))


def cancel(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="job id")],
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Cancel a job: at once if it has not started, else its runner is asked to stop it."""
    with api(url, api_key) as client:
        reply = client.cancel(job_id)
    if as_json:
        render.print_json(reply)
    elif reply.cancel_requested:
        print(f"{job_id} is running: its runner was asked to stop it")
    else:
        print(f"{job_id} {reply.state}")


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
    app.command("jobs")(list_jobs)
    app.command("job")(show_job)
    app.command("cancel")(cancel)
