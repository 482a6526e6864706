"""The ``laneyard`` command line (Typer: typed options, help and completion for free)."""
