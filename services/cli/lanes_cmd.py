"""``laneyard lanes``: pause and resume lanes, list the pauses in force."""

from __future__ import annotations

from typing import Annotated

import typer

from laneyard.services.cli import render
from laneyard.services.cli.api_client import ApiKeyOption, JsonOption, UrlOption, api
from laneyard.shared.views.pauses import PauseList, PauseView

app = typer.Typer(no_args_is_help=True, help="Lanes: pause, resume, and the pauses in force.")

LaneArg = Annotated[str, typer.Argument(metavar="LANE", help="the lane, e.g. main")]
ClusterOption = Annotated[
    str | None, typer.Option("--cluster", help="the lane's cluster; left out: the lane on every cluster")
]


def describe(pause: PauseView) -> str:
    where = f"lane {pause.lane}" if pause.lane is not None else "every lane"
    where += f" of cluster {pause.cluster}" if pause.cluster is not None else " on every cluster"
    return f"{where}: {'paused' if pause.paused else 'resumed'}"


@app.command("pause")
def pause(
    lane: LaneArg, cluster: ClusterOption = None, url: UrlOption = None, api_key: ApiKeyOption = None
) -> None:
    """Pause a lane: its jobs are still accepted but none are dispatched; running ones go on."""
    with api(url, api_key) as client:
        print(describe(client.pause(lane=lane, cluster=cluster)), flush=True)


@app.command("resume")
def resume(
    lane: LaneArg, cluster: ClusterOption = None, url: UrlOption = None, api_key: ApiKeyOption = None
) -> None:
    """Resume a lane paused with the same --cluster (a paused cluster still holds it)."""
    with api(url, api_key) as client:
        print(describe(client.resume(lane=lane, cluster=cluster)), flush=True)


@app.command("paused")
def paused(as_json: JsonOption = False, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """List the pauses in force: lanes and whole clusters."""
    with api(url, api_key) as client:
        found = client.pauses()
    if as_json:
        render.print_json(PauseList(pauses=found))
        return
    for one in found:
        print(describe(one), flush=True)
    if not found:
        print("nothing is paused", flush=True)
