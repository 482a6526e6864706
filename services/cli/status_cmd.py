"""``laneyard status``: queued jobs per lane and cluster, runners and capacity per cluster."""

from __future__ import annotations

import typer

from laneyard.services.cli import render
from laneyard.services.cli.api_client import ApiKeyOption, JsonOption, UrlOption, api


def status(as_json: JsonOption = False, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """Show lanes (queued, throttled) and clusters (runners, capacity used/total)."""
    with api(url, api_key) as client:
        found = client.status()
    if as_json:
        render.print_json(found)
    else:
        render.out().print(render.status_view(found))


def register(app: typer.Typer) -> None:
    app.command("status")(status)
