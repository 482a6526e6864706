"""``laneyard keys``: API keys for LANEYARD_API_KEYS_FILE, which holds only their SHA-256 digests."""

from __future__ import annotations

from typing import Annotated

import typer

from laneyard.services.admission.auth import SCOPES, new_key

app = typer.Typer(no_args_is_help=True, help="API keys: make one, and the line that accepts it.")


@app.command("new")
def new(
    scopes: Annotated[
        str, typer.Option(help=f"comma-separated, of {', '.join(sorted(SCOPES))}")
    ] = "submit,read",
) -> None:
    """Print a new API key (give it to the client) and its line (append it to the keys file)."""
    wanted = frozenset(s.strip() for s in scopes.split(",") if s.strip())
    try:
        key, line = new_key(wanted)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scopes") from exc
    typer.echo(f"key:  {key}")
    typer.echo(f"line: {line}")
    typer.echo("The key is shown once; LANEYARD_API_KEYS_FILE keeps only the line.", err=True)
