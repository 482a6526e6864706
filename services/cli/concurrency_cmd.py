"""``laneyard concurrency``: limits of concurrency keys, at most N of a key's jobs running at once."""

from __future__ import annotations

from typing import Annotated

import typer

from laneyard.services.cli import render
from laneyard.services.cli.api_client import ApiKeyOption, JsonOption, UrlOption, api

app = typer.Typer(no_args_is_help=True, help="Limits of concurrency keys: list, set, clear.")

KeyArg = Annotated[str, typer.Argument(metavar="KEY", help="a concurrency key, or a prefix ending in *")]


@app.command("list")
def list_limits(as_json: JsonOption = False, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """List the limits in force, then the keys in use: running / limit, and whether jobs wait."""
    with api(url, api_key) as client:
        found = client.concurrency()
    if as_json:
        render.print_json(found)
        return
    for name, limit in found.limits.items():
        print(f"{name}  max {limit}", flush=True)
    for use in found.keys:
        bound = "-" if use.max_running is None else str(use.max_running)
        waiting = "  (jobs waiting)" if use.parked else ""
        print(f"{use.key}  running {use.running}/{bound}{waiting}", flush=True)


@app.command("set")
def set_limit(
    key: KeyArg,
    max_running: Annotated[int, typer.Argument(min=0, help="jobs of the key running at once; 0 holds all")],
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Run at most MAX_RUNNING jobs with this key (each key of a prefix) at once, cluster-wide."""
    with api(url, api_key) as client:
        made = client.set_concurrency_limit(key, max_running)
    print(f"{made.key}  max {made.max_running}", flush=True)


@app.command("clear")
def clear_limit(key: KeyArg, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """Back to the limit in LANEYARD_CONCURRENCY_LIMITS, or none."""
    with api(url, api_key) as client:
        client.clear_concurrency_limit(key)
    print(f"cleared {key}", flush=True)
