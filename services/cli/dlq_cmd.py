"""``laneyard dlq``: the dead letters (messages that could not be processed), listed and replayed."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from laneyard.services.cli import render
from laneyard.services.cli.api_client import ApiKeyOption, JsonOption, UrlOption, api

app = typer.Typer(no_args_is_help=True, help="Dead letters: list, show, replay.")

PAGE = 500
IdArg = Annotated[str, typer.Argument(metavar="ID", help="dead letter id")]


@app.command("list")
def list_dead_letters(
    source: Annotated[str | None, typer.Option(help="admission, dispatcher or runner")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="at most this many, newest first")] = 50,
    as_json: JsonOption = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """List dead letters, newest first."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    with api(url, api_key) as client:
        while len(items) < limit:
            page = client.get(
                "/v1/dead-letters", source=source, limit=min(PAGE, limit - len(items)), cursor=cursor
            )
            items += page.get("items") or []
            cursor = page.get("next")
            if not cursor:
                break
    if as_json:
        render.print_json({"items": items, "next": cursor})
    else:
        render.out().print(render.dead_letters_table(items))


@app.command("show")
def show(dead_id: IdArg, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """Show one dead letter with its body (always JSON)."""
    with api(url, api_key) as client:
        render.print_json(client.get(f"/v1/dead-letters/{dead_id}"))


@app.command("replay")
def replay(
    dead_id: IdArg, as_json: JsonOption = False, url: UrlOption = None, api_key: ApiKeyOption = None
) -> None:
    """Admit a new job from a dead letter and print its id (replaying again returns the same job)."""
    with api(url, api_key) as client:
        reply = client.post(f"/v1/dead-letters/{dead_id}/replay")
    if as_json:
        render.print_json(reply)
        return
    if reply.get("duplicate"):
        render.err.print(f"{dead_id} was replayed before; its job is:")
    print(reply["job_id"], flush=True)
