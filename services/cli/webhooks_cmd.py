"""``laneyard webhooks``: lane subscriptions (add, list, delete) and a job's deliveries."""

from __future__ import annotations

from typing import Annotated

import typer

from laneyard.services.cli import render
from laneyard.services.cli.api_client import ApiKeyOption, JsonOption, UrlOption, api
from laneyard.shared.views.webhooks import DeliveryList, WebhookList

app = typer.Typer(no_args_is_help=True, help="Webhooks: lane subscriptions and a job's deliveries.")


@app.command("add")
def add(
    url_arg: Annotated[str, typer.Argument(metavar="URL", help="http(s) URL the job ends are POSTed to")],
    lane: Annotated[str, typer.Option(help="the lane whose jobs are reported")] = "main",
    cluster: Annotated[str | None, typer.Option(help="only this cluster's jobs [default: every]")] = None,
    event: Annotated[
        list[str] | None,
        typer.Option("--event", help="COMPLETED, ERROR or CANCELLED; repeatable [default: all]"),
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Subscribe URL to the ends of a lane's jobs; print the webhook's id."""
    with api(url, api_key) as client:
        made = client.create_webhook(
            url_arg, lane, events=[e.upper() for e in event] if event else None, cluster=cluster
        )
    if as_json:
        render.print_json(made)
    else:
        print(made.id, flush=True)


@app.command("list")
def list_webhooks(as_json: JsonOption = False, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """List webhook subscriptions."""
    with api(url, api_key) as client:
        found = client.webhooks()
    if as_json:
        render.print_json(WebhookList(webhooks=found))
        return
    table = render.listing("webhooks")
    for column in ("ID", "LANE", "CLUSTER", "EVENTS", "URL"):
        table.add_column(column)
    for w in found:
        render.add_row(table, w.id, w.lane, w.cluster or "*", ",".join(w.events), w.url)
    render.out().print(table)


@app.command("delete")
def delete(
    webhook_id: Annotated[str, typer.Argument(metavar="ID")],
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Delete a webhook subscription (deliveries already made are still sent)."""
    with api(url, api_key) as client:
        client.delete_webhook(webhook_id)


@app.command("deliveries")
def deliveries(
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID")],
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Show a job's webhook deliveries: id, state, attempts and the last error."""
    with api(url, api_key) as client:
        found = client.job_webhooks(job_id)
    if as_json:
        render.print_json(DeliveryList(deliveries=found))
        return
    table = render.listing(f"webhook deliveries of {job_id}")
    for column in ("DELIVERY", "STATE", "ATTEMPTS", "LAST", "URL"):
        table.add_column(column)
    for d in found:
        last = d.attempts[-1] if d.attempts else None
        said = "-" if last is None else (str(last.status) if last.status is not None else str(last.error))
        render.add_row(table, d.id, render.state_text(d.state), str(d.attempts_made), said, d.url)
    render.out().print(table)
