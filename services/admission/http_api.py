"""The HTTP API (FastAPI: typed routes, request validation and the OpenAPI document at /docs)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from laneyard.services.admission.allowed_methods import documented_methods, routed_methods
from laneyard.services.admission.auth import Auth, load_keys
from laneyard.services.admission.body_limit import BodyLimit
from laneyard.services.admission.console import routes as console
from laneyard.services.admission.errors import UNAVAILABLE, Rejected, retry_after
from laneyard.services.admission.events.service import EventService
from laneyard.services.admission.refusal_docs import EVERY_API_ROUTE
from laneyard.services.admission.routes import (
    Context,
    clusters,
    concurrency,
    dead_letters,
    fairness,
    jobs,
    key_rates,
    pauses,
    schedules,
    status,
    throttles,
    webhooks,
)
from laneyard.services.admission.routes import events as events_routes
from laneyard.shared.admitting.admit import Admitter
from laneyard.shared.admitting.refusal import NotAdmitted
from laneyard.shared.metrics import admission as admission_metrics
from laneyard.shared.metrics import server as metrics_server
from laneyard.shared.models import MAX_BATCH
from laneyard.shared.settings import Settings, get_settings
from laneyard.shared.store.database import Database
from laneyard.shared.throttling.rates import RateBook

log = logging.getLogger(__name__)

# Bodies larger than the args limit plus room for the other fields are refused before parsing.
ENVELOPE_BYTES = 64 * 1024
# A batch may carry many jobs' args, up to this much in all (each job's args keep their own limit).
BATCH_BODY_BYTES = 32 * 1024 * 1024


def create_app(
    admitter: Admitter,
    db: Database,
    settings: Settings | None = None,
    rates: RateBook | None = None,
    *,
    events: EventService | None = None,
) -> FastAPI:
    """``events``: the replica's event stream parts; ``laneyard admission`` passes them to run their
    sequencer, otherwise the app makes its own (streams work, nothing sequences)."""
    settings = settings or get_settings()
    auth = Auth(load_keys(settings.api_keys, settings.api_keys_file))
    ctx = Context(admitter, db, settings, auth, rates or admitter.rates or RateBook(db, settings))
    app = FastAPI(title="Laneyard", version="0.1.0", summary="Admission API of the Laneyard job scheduler")

    @app.exception_handler(Rejected)
    async def rejected(_: Request, exc: Rejected) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 405:
            methods = documented_methods(app.openapi()["paths"], request.url.path)
            allow = ", ".join(methods or routed_methods(app.router.routes, request.scope))
            exc = HTTPException(405, exc.detail, headers={**(exc.headers or {}), "Allow": allow})
        return await http_exception_handler(request, exc)

    @app.exception_handler(NotAdmitted)
    async def refused(_: Request, exc: NotAdmitted) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.http_status, headers=retry_after(exc))

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The broker or the database is away (a restart, a network blip): nothing was admitted for
        # certain, and a retry soon is the right move; a 500 would say the request was at fault.
        log.warning("%s %s: service unavailable: %r", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": f"the message broker or the database is unavailable ({type(exc).__name__}); retry"},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, unavailable)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if request.method == "POST" and request.url.path in ("/v1/jobs", "/v1/jobs/batch"):
            admission_metrics.rejected_unreadable()
        # Names each bad field without echoing its value: a value may be a secret from the args, or
        # something JSON cannot even carry back (NaN), which would turn a 422 into a 500.
        detail = [
            {
                "loc": list(err.get("loc", ())),
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
            for err in exc.errors()[:50]
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    def body_limit(path: str) -> int:
        one = admitter.max_args_bytes + ENVELOPE_BYTES
        return min(MAX_BATCH * one, BATCH_BODY_BYTES) if path == "/v1/jobs/batch" else one

    app.add_middleware(BodyLimit, limit_for=body_limit)

    routed = (
        jobs,
        clusters,
        status,
        throttles,
        key_rates,
        pauses,
        fairness,
        concurrency,
        dead_letters,
        schedules,
        webhooks,
    )
    for module in routed:
        app.include_router(module.router(ctx), responses=EVERY_API_ROUTE)
    app.state.events = events or EventService(db, settings)
    app.include_router(events_routes.router(ctx, app.state.events), responses=EVERY_API_ROUTE)

    app.add_api_route("/metrics", metrics_server.metrics_endpoint, include_in_schema=False)
    console.mount(app, ctx)  # the web console at /ui

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
