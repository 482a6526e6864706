"""Which documented operation of the admission API a request hit, to check that a test covers them all."""

from __future__ import annotations

import re
from typing import Any

import httpx


class RouteLog:
    """Collects (METHOD, path template) of the requests an httpx client sends."""

    def __init__(self, openapi: dict[str, Any]) -> None:
        self.operations = {(method.upper(), path) for path, ops in openapi["paths"].items() for method in ops}
        # Literal paths first, so /v1/jobs/batch is not taken for /v1/jobs/{job_id}.
        paths = sorted(openapi["paths"], key=lambda path: path.count("{"))
        self._patterns = [
            (path, re.compile("^" + re.sub(r"\{[^/}]+\}", "[^/]+", path) + "$")) for path in paths
        ]
        self.hit: set[tuple[str, str]] = set()

    async def record(self, request: httpx.Request) -> None:
        for path, pattern in self._patterns:
            if pattern.match(request.url.path):
                self.hit.add((request.method, path))
                return

    def missed(self) -> set[tuple[str, str]]:
        return self.operations - self.hit
