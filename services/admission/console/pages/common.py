"""What every console page shares: who is asking (session, grant, CSRF), rendering, refusing.

A handler asks for a ``Visit`` through ``Console.reader`` or ``Console.writer(action)`` and does only
its own work: a viewer who must sign in is answered by the dependency, and ``Rejected`` raised by a
dependency or a handler becomes the console's error page (or an htmx fragment) with its status.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from markupsafe import escape

from laneyard.services.admission.console import formatting, session
from laneyard.services.admission.console.access import Permissions, allowed, permissions
from laneyard.services.admission.console.forms import BadForm, parse_form
from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.grants import Grant
from laneyard.services.admission.routes import Context

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
PAGE_SIZE = 50
# What a redirect after a change may say: fixed texts, so a crafted link cannot put words on the page.
DONE = {
    "cancelled": "The job was cancelled.",
    "cancel-requested": "The job's runner was asked to stop it.",
    "paused": "The schedule was paused.",
    "resumed": "The schedule was resumed.",
    "deleted": "Deleted.",
    "created": "Created.",
    "rate": "The rate was changed.",
    "replayed": "The dead letter was replayed as a new job.",
    "retried": "This job retries the one it links to.",
}


@dataclass
class Viewer:
    session: session.Session
    grant: Grant | None  # None: a key is needed and this session has none
    fresh: bool  # the session is new: its cookie must be set on the response

    @property
    def can(self) -> Permissions:
        return permissions(self.grant or Grant(frozenset()))


class Answered(Exception):
    """Ends a console request with ``response`` in place of the page (the way to sign in)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass(frozen=True)
class Visit:
    """A request a handler may serve: its viewer, the grant it was checked against, and the form
    of a change (empty for a read)."""

    console: Console
    request: Request
    who: Viewer
    grant: Grant
    form: dict[str, str]

    def render(self, name: str, code: int = 200, **values: Any) -> Response:
        return self.console.render(self.request, self.who, name, code, **values)


def back(path: str, done: str) -> Response:
    """The redirect after a change (POST then redirect), saying what was done."""
    return RedirectResponse(f"{path}?done={done}", 303)


class Console:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # Without a configured secret, sessions last as long as the process.
        self.secret = (ctx.settings.console_secret or secrets.token_hex(32)).encode()
        self.templates = Jinja2Templates(directory=TEMPLATES)
        self.templates.env.filters["iso"] = formatting.iso
        self.templates.env.filters["age"] = formatting.age
        self.templates.env.globals["percent"] = formatting.percent
        self.templates.env.globals["urlencode"] = urlencode
        self.route_class = _refusing_route(self)

    def router(self) -> APIRouter:
        """A router for some of the console's pages: mounted at ``/ui``, not in the API's document,
        its handlers' refusals answered as console pages."""
        return APIRouter(prefix="/ui", include_in_schema=False, route_class=self.route_class)

    def grant_of(self, kid: str) -> Grant | None:
        if self.ctx.auth.open:
            return Grant.everything()
        found = None
        for key_digest, grant in self.ctx.auth.digests():
            # Every key is compared in constant time, as the API compares bearer keys.
            if hmac.compare_digest(session.key_id(self.secret, key_digest), kid):
                found = grant
        return found

    def viewer(self, request: Request) -> Viewer:
        # Once a request: a new session's page, cookie and error page must all name the same session.
        known = getattr(request.state, "console_viewer", None)
        if isinstance(known, Viewer):
            return known
        who = self._unsealed(request)
        request.state.console_viewer = who
        return who

    def _unsealed(self, request: Request) -> Viewer:
        now = time.time()
        open_ = self.ctx.auth.open
        found = session.unseal(request.cookies.get(session.COOKIE), self.secret, now)
        if found is None:
            return Viewer(session.new_session("", now), Grant.everything() if open_ else None, True)
        return Viewer(found, self.grant_of(found.key_id) if (found.key_id or open_) else None, False)

    def with_cookie(self, request: Request, response: Response, who: Viewer) -> Response:
        if who.fresh:
            response.set_cookie(
                session.COOKIE,
                session.seal(who.session, self.secret),
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
                path="/ui",
            )
        return response

    def render(self, request: Request, who: Viewer, name: str, code: int = 200, **values: Any) -> Response:
        values.setdefault("done", DONE.get(request.query_params.get("done", "")))
        page = self.templates.TemplateResponse(
            request,
            name,
            {
                "can": who.can,
                "csrf": who.session.csrf,
                "signed_in": bool(who.session.key_id),
                "keys_required": not self.ctx.auth.open,
                **values,
            },
            status_code=code,
        )
        return self.with_cookie(request, page, who)

    def refuse(self, request: Request, who: Viewer, status: int, message: str) -> Response:
        if request.headers.get("HX-Request"):
            fragment = HTMLResponse(f"<p class=error>{escape(message)}</p>", status)
            return self.with_cookie(request, fragment, who)
        return self.render(request, who, "error.html", status, message=message)

    async def reader(self, request: Request) -> Visit:
        """Dependency of every page: the viewer, unless they must sign in first or may not read."""
        who = self.viewer(request)
        if who.grant is None:
            if request.headers.get("HX-Request"):
                away: Response = Response(status_code=401, headers={"HX-Redirect": "/ui/login"})
            else:
                away = RedirectResponse("/ui/login", 303)
            raise Answered(self.with_cookie(request, away, who))
        if not who.can.read:
            raise Rejected(403, "this API key does not have the 'read' scope")
        return Visit(self, request, who, who.grant, {})

    def writer(self, action: str) -> Callable[[Request], Awaitable[Visit]]:
        """Dependency of a change (a POST) needing ``action``: the viewer and form, once the form,
        its CSRF token, the session's key and the key's scope are all good."""

        async def visit(request: Request) -> Visit:
            who = self.viewer(request)
            try:
                form = parse_form(await request.body())
            except BadForm as exc:
                raise Rejected(400, str(exc)) from exc
            presented = form.get("csrf") or request.headers.get("X-CSRF-Token")
            if who.fresh or not session.csrf_ok(who.session, presented):
                raise Rejected(403, "the form's CSRF token is missing or out of date")
            if who.grant is None:
                raise Rejected(401, "sign in with an API key first")
            if not allowed(who.grant, action):
                raise Rejected(403, "this API key may not do that")
            return Visit(self, request, who, who.grant, form)

        return visit


def _refusing_route(console: Console) -> type[APIRoute]:
    # The app answers Rejected as the API does (JSON); the console's routes answer it as a page,
    # so the handling wraps these routes alone.
    class RefusingRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handle = super().get_route_handler()

            async def answer(request: Request) -> Response:
                try:
                    return await handle(request)
                except Answered as exc:
                    return exc.response
                except Rejected as exc:
                    return console.refuse(request, console.viewer(request), exc.status, exc.message)

            return answer

    return RefusingRoute
