"""``laneyard dlq``: the dead letters (messages that could not be processed), listed and replayed."""

from __future__ import annotations

from typing import Annotated

import typer

from laneyard.services.cli import render
from laneyard.services.cli.api_client import ApiKeyOption, JsonOption, UrlOption, api
from laneyard.shared.views.dead_letters import DeadLetterItem, DeadLetterPage

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
    items: list[DeadLetterItem] = []
    cursor: str | None = None
    with api(url, api_key) as client:
        while len(items) < limit:
            page = client.dead_letter_page(source=source, cursor=cursor, limit=min(PAGE, limit - len(items)))
            items += page.items
            cursor = page.next
            if not cursor:
                break
    if as_json:
        render.print_json(DeadLetterPage(items=items, next=cursor))
    else:
        render.out().print(render.dead_letters_table(items))


@app.command("show")
def show(dead_id: IdArg, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """Show one dead letter with its body (always JSON)."""
    with api(url, api_key) as client:
        render.print_json(client.dead_letter(dead_id))


@app.command("replay")
def replay(
    dead_id: IdArg, as_json: JsonOption = False, url: UrlOption = None, api_key: ApiKeyOption = None
) -> None:
    """Admit a new job from a dead letter and print its id (replaying again returns the same job)."""
    with api(url, api_key) as client:
        reply = client.replay(dead_id)
    if as_json:
        render.print_json(reply)
        return
    if reply.duplicate:
        render.err.print(f"{dead_id} was replayed before; its job is:")
    print(reply.job_id, flush=True)
