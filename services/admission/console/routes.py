"""The console's pages, their live partials and their changes (HTML forms, POST then redirect),
mounted at ``/ui``: one module a page or resource in ``pages``, what they share in ``pages.common``.

Live pages poll partials with htmx (``templates/_live.html`` is the one place saying how); a page
can move to server-sent events by changing that macro alone.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from laneyard.services.admission.console.pages import (
    clusters,
    dead_letters,
    jobs,
    overview,
    schedules,
    signing_in,
)
from laneyard.services.admission.console.pages.common import Console
from laneyard.services.admission.routes import Context

HERE = Path(__file__).resolve().parent
PAGES = (signing_in, overview, jobs, schedules, dead_letters, clusters)


def mount(app: FastAPI, ctx: Context) -> None:
    console = Console(ctx)
    for page in PAGES:
        app.include_router(page.router(console))
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="console-static")
