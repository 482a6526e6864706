"""``laneyard clusters``: list, create, get, delete, pause (drain), resume."""

from __future__ import annotations

from typing import Annotated

import typer

from laneyard.services.cli import render
from laneyard.services.cli.api_client import ApiKeyOption, JsonOption, UrlOption, api
from laneyard.shared.views.clusters import ClusterList

app = typer.Typer(no_args_is_help=True, help="Clusters: list, create, get, delete, pause (drain), resume.")

SlugArg = Annotated[str, typer.Argument(metavar="SLUG", help="cluster slug, e.g. gpu-farm-3kq9")]


@app.command("list")
def list_clusters(as_json: JsonOption = False, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """List clusters."""
    with api(url, api_key) as client:
        found = client.clusters()
    if as_json:
        render.print_json(ClusterList(clusters=found))
    else:
        render.out().print(render.clusters_table(found))


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="a name; the slug is made from it")],
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Create a cluster and print its slug (the name made URL-safe, plus four random characters)."""
    with api(url, api_key) as client:
        made = client.create_cluster(name)
    if as_json:
        render.print_json(made)
    else:
        print(made.slug, flush=True)


@app.command("get")
def get(
    slug: SlugArg, as_json: JsonOption = False, url: UrlOption = None, api_key: ApiKeyOption = None
) -> None:
    """Show one cluster."""
    with api(url, api_key) as client:
        found = client.get_cluster(slug)
    if as_json:
        render.print_json(found)
    else:
        render.out().print(render.clusters_table([found]))


@app.command("delete")
def delete(slug: SlugArg, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """Delete an idle cluster (refused while it has queued or running jobs)."""
    with api(url, api_key) as client:
        client.delete_cluster(slug)
    print(f"deleted {slug}", flush=True)


@app.command("pause")
def pause(slug: SlugArg, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """Drain a cluster: jobs are still accepted, none are dispatched, running ones finish."""
    with api(url, api_key) as client:
        client.pause(cluster=slug)
    print(f"paused {slug}: none of its lanes dispatch until it is resumed", flush=True)


@app.command("resume")
def resume(slug: SlugArg, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """End a cluster's drain (pauses of single lanes still hold)."""
    with api(url, api_key) as client:
        client.resume(cluster=slug)
    print(f"resumed {slug}", flush=True)
