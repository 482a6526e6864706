"""``laneyard fairness``: the weights of fairness keys, each key's share of its lane."""

from __future__ import annotations

from typing import Annotated

import typer

from laneyard.services.cli import render
from laneyard.services.cli.api_client import ApiKeyOption, JsonOption, UrlOption, api

app = typer.Typer(no_args_is_help=True, help="Weights of fairness keys: list, set, clear.")

LaneArg = Annotated[str, typer.Argument(metavar="LANE", help="the lane the key's jobs are in")]
KeyArg = Annotated[str, typer.Argument(metavar="KEY", help="a fairness key, such as tenant:acme")]


@app.command("list")
def list_weights(as_json: JsonOption = False, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """List the keys given a weight; every other key weighs 1."""
    with api(url, api_key) as client:
        found = client.fairness_weights()
    if as_json:
        render.print_json(found)
        return
    for item in found:
        print(f"{item.lane}  {item.key}  {item.weight:g}", flush=True)


@app.command("set")
def set_weight(
    lane: LaneArg,
    key: KeyArg,
    weight: Annotated[float, typer.Argument(min=0.001, max=1000, help="its share against keys weighing 1")],
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Give a fairness key a bigger (or smaller) share of its lane."""
    with api(url, api_key) as client:
        made = client.set_fairness_weight(lane, key, weight)
    print(f"{made.lane}  {made.key}  {made.weight:g}", flush=True)


@app.command("clear")
def clear_weight(lane: LaneArg, key: KeyArg, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """Back to weight 1."""
    with api(url, api_key) as client:
        client.clear_fairness_weight(lane, key)
    print(f"cleared {lane} {key}", flush=True)
