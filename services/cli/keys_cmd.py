"""``laneyard keys``: API keys for LANEYARD_API_KEYS_FILE, which holds only their SHA-256 digests."""

from __future__ import annotations

from typing import Annotated

import typer

from laneyard.services.admission.auth import new_key
from laneyard.services.admission.grants import SCOPES, parse_grant

app = typer.Typer(no_args_is_help=True, help="API keys: make one, and the line that accepts it.")


@app.command("new")
def new(
    scopes: Annotated[
        str, typer.Option(help=f"comma-separated, of {', '.join(sorted(SCOPES))}")
    ] = "submit,read",
    lanes: Annotated[
        str | None, typer.Option(help="comma-separated lanes the key is limited to (default: all)")
    ] = None,
    clusters: Annotated[
        str | None, typer.Option(help="comma-separated clusters the key is limited to (default: all)")
    ] = None,
    fairness_key: Annotated[
        str | None, typer.Option(help="the fairness key its jobs run under, e.g. tenant:acme")
    ] = None,
) -> None:
    """Print a new API key (give it to the client) and its line (append it to the keys file)."""
    words = [scopes.replace(" ", "")]
    if lanes is not None:
        words.append(f"lanes={lanes.replace(' ', '')}")
    if clusters is not None:
        words.append(f"clusters={clusters.replace(' ', '')}")
    if fairness_key is not None:
        words.append(f"fairness={fairness_key.strip()}")
    try:
        key, line = new_key(parse_grant(" ".join(words), "the new key"))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"key:  {key}")
    typer.echo(f"line: {line}")
    typer.echo("The key is shown once; LANEYARD_API_KEYS_FILE keeps only the line.", err=True)
