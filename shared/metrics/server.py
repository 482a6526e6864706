"""Serving ``/metrics``: a route on admission's FastAPI app, a small HTTP server elsewhere."""

from __future__ import annotations

import logging

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest, start_http_server
from starlette.responses import Response

log = logging.getLogger(__name__)


async def metrics_endpoint() -> Response:
    """The text exposition of this process's metrics (a FastAPI route: ``GET /metrics``)."""
    # Rendering is a few hundred microseconds of CPU for the few hundred series a service has.
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def start(port: int, host: str = "0.0.0.0") -> int | None:
    """Serves ``/metrics`` on ``port`` from a daemon thread (0: not at all); returns the port.

    prometheus_client's own server runs in its thread, so scrapes never wait on the event loop."""
    if port <= 0:
        return None
    server, _ = start_http_server(port, addr=host)
    bound = int(server.server_address[1])
    log.info("metrics on http://%s:%d/metrics", host, bound)
    return bound
