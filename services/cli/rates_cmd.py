"""``laneyard rates``: the admission rates of concurrency and fairness keys."""

from __future__ import annotations

from typing import Annotated

import typer

from laneyard.services.cli import render
from laneyard.services.cli.api_client import ApiKeyOption, JsonOption, UrlOption, api

app = typer.Typer(no_args_is_help=True, help="Rates of job keys: list, set, clear.")

KeyArg = Annotated[
    str, typer.Argument(metavar="KEY", help="a concurrency or fairness key, or a prefix ending in *")
]


@app.command("list")
def list_rates(as_json: JsonOption = False, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """List the key rates in force, in jobs per second."""
    with api(url, api_key) as client:
        found = client.key_rates()
    if as_json:
        render.print_json(found)
        return
    for key, rate in found.rates.items():
        print(f"{key}  {rate:g}/s", flush=True)


@app.command("set")
def set_rate(
    key: KeyArg,
    per_second: Annotated[float, typer.Argument(min=0, help="jobs per second; 0 holds them all back")],
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Hold jobs with this key to a rate, over every lane and admission replica."""
    with api(url, api_key) as client:
        made = client.set_key_rate(key, per_second)
    print(f"{made.key}  {made.per_second:g}/s", flush=True)


@app.command("clear")
def clear_rate(key: KeyArg, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """Back to the rate in LANEYARD_KEY_RATES, or none."""
    with api(url, api_key) as client:
        client.clear_key_rate(key)
    print(f"cleared {key}", flush=True)
