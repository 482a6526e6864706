"""``laneyard schedules``: list, get, trigger (run now), backfill, pause, resume, delete."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from laneyard.services.cli import render
from laneyard.services.cli.api_client import ApiKeyOption, JsonOption, UrlOption, api
from laneyard.shared.views.schedules import ScheduleList, ScheduleView

app = typer.Typer(
    no_args_is_help=True, help="Schedules: list, get, trigger, backfill, pause, resume, delete."
)

IdArg = Annotated[str, typer.Argument(metavar="SCHEDULE_ID", help="the schedule id")]


def summary(found: ScheduleView) -> str:
    when = found.cron or (f"every {found.every:g}s" if found.every else f"after {found.start_after}")
    zone = f" ({found.timezone})" if found.cron and found.timezone else ""
    nxt = found.next_run_at.isoformat() if found.next_run_at else "finished"
    state = "paused" if found.paused else nxt
    return f"{found.id}  {found.name or '-'}  {when}{zone}  overlap={found.overlap}  next={state}"


@app.command("list")
def list_schedules(as_json: JsonOption = False, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """List schedules."""
    with api(url, api_key) as client:
        found = client.schedules()
    if as_json:
        render.print_json(ScheduleList(schedules=found))
    else:
        for one in found:
            print(summary(one), flush=True)


@app.command("get")
def get(
    schedule_id: IdArg, as_json: JsonOption = False, url: UrlOption = None, api_key: ApiKeyOption = None
) -> None:
    """Show one schedule: next fire times, latest runs with their states, skipped fires."""
    with api(url, api_key) as client:
        found = client.get_schedule(schedule_id)
    if as_json:
        render.print_json(found)
        return
    print(summary(found), flush=True)
    for at in found.next_fires:
        print(f"  next     {at.isoformat()}", flush=True)
    for run in found.runs:
        fire = run.fire_at.isoformat() if run.fire_at else "-"
        print(f"  run      {fire}  {run.kind:9}  {run.job_id}  {run.state or 'gone'}", flush=True)
    for skip in found.skipped:
        fire = skip.fire_at.isoformat() if skip.fire_at else "-"
        print(f"  skipped  {fire}  {skip.kind:9}  {skip.reason}", flush=True)


@app.command("trigger")
def trigger(
    schedule_id: IdArg,
    overlap: Annotated[
        str | None,
        typer.Option(help="this run's overlap policy instead of the schedule's: allow starts it regardless"),
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Run the schedule's job now (a manual run), under its overlap policy unless --overlap says."""
    with api(url, api_key) as client:
        result = client.trigger_schedule(schedule_id, overlap)
    if as_json:
        render.print_json(result)
    elif result.started:
        print(result.job_id, flush=True)
    else:
        print("buffered: it starts when the previous run ends", flush=True)


@app.command("backfill")
def backfill(
    schedule_id: IdArg,
    start: Annotated[datetime, typer.Option("--from", help="first fire time, YYYY-MM-DDTHH:MM:SS in UTC")],
    end: Annotated[datetime, typer.Option("--to", help="last fire time, YYYY-MM-DDTHH:MM:SS in UTC")],
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Run each past fire time in [--from, --to] once (fire times that already ran keep their job)."""
    with api(url, api_key) as client:
        result = client.backfill_schedule(schedule_id, start, end)
    if as_json:
        render.print_json(result)
        return
    for at, job_id in zip(result.fire_times, result.job_ids, strict=True):
        print(f"{at.isoformat()}  {job_id}", flush=True)
    print(f"{len(result.job_ids)} fire times, {result.duplicates} already had their job", flush=True)


@app.command("pause")
def pause(schedule_id: IdArg, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """Pause a schedule (fires missed while paused are not made up)."""
    with api(url, api_key) as client:
        client.pause_schedule(schedule_id)
    print(f"paused {schedule_id}", flush=True)


@app.command("resume")
def resume(schedule_id: IdArg, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """Resume a paused schedule at its next fire time after now."""
    with api(url, api_key) as client:
        client.resume_schedule(schedule_id)
    print(f"resumed {schedule_id}", flush=True)


@app.command("delete")
def delete(schedule_id: IdArg, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """Delete a schedule (jobs it already submitted are not touched)."""
    with api(url, api_key) as client:
        client.delete_schedule(schedule_id)
    print(f"deleted {schedule_id}", flush=True)
