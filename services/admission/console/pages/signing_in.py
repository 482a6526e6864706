"""Signing in with an API key, and out: the session cookie names the key it was opened with."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from laneyard.services.admission.auth import digest
from laneyard.services.admission.console import session
from laneyard.services.admission.console.forms import BadForm, parse_form
from laneyard.services.admission.console.pages.common import Console, Viewer
from laneyard.services.admission.errors import Rejected


def router(console: Console) -> APIRouter:
    ui = console.router()
    auth = console.ctx.auth

    @ui.get("/login")
    async def login_page(request: Request) -> Response:
        who = console.viewer(request)
        if auth.open:
            return console.with_cookie(request, RedirectResponse("/ui", 303), who)
        return console.render(request, who, "login.html")

    @ui.post("/login")
    async def login(request: Request) -> Response:
        # Refusals show on the login form itself, not on the error page.
        who = console.viewer(request)
        try:
            form = parse_form(await request.body())
        except BadForm as exc:
            return console.render(request, who, "login.html", 400, error=str(exc))
        if who.fresh or not session.csrf_ok(who.session, form.get("csrf")):
            stale = "the form was out of date; try again"
            return console.render(request, who, "login.html", 403, error=stale)
        address = request.client.host if request.client is not None else "unknown"
        key = form.get("key", "").strip()
        try:
            auth.authenticate(address, key or None)
        except Rejected as exc:
            return console.render(request, who, "login.html", exc.status, error=exc.message)
        opened = session.new_session(session.key_id(console.secret, digest(key)), time.time())
        return console.with_cookie(request, RedirectResponse("/ui", 303), Viewer(opened, None, True))

    @ui.post("/logout")
    async def logout(request: Request) -> Response:
        who = console.viewer(request)
        try:
            form = parse_form(await request.body())
        except BadForm as exc:
            raise Rejected(400, str(exc)) from exc
        if not session.csrf_ok(who.session, form.get("csrf")):
            raise Rejected(403, "the form's CSRF token is missing or out of date")
        anonymous = Viewer(session.new_session("", time.time()), None, True)
        return console.with_cookie(request, RedirectResponse("/ui/login", 303), anonymous)

    return ui
