"""The ``Allow`` header of a 405 answer: every method of the path.

Starlette answers 405 from the first route whose path matched, naming only that route's methods,
though other routes may serve the same path (``GET`` and ``POST /v1/jobs``). A path is resolved as
OpenAPI resolves it, concrete before templated: ``/v1/jobs/batch`` is the batch path (``POST``),
not a job called "batch".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import Scope

METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def documented_methods(paths: Mapping[str, Mapping[str, Any]], path: str) -> list[str] | None:
    """The methods of the most specific documented path ``path`` is (None if it is none of them)."""
    found: dict[str, int] = {}
    for template in paths:
        pattern = "/".join("[^/]+" if p.startswith("{") else re.escape(p) for p in template.split("/"))
        if re.fullmatch(pattern, path):
            found[template] = template.count("{")
    if not found:
        return None
    fewest = min(found.values())
    methods = {m.upper() for t, n in found.items() if n == fewest for m in paths[t]}
    return sorted(methods & set(METHODS))


def routed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """The methods some route serves the request's path with (for paths not in the document)."""
    return [
        method
        for method in METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    ]
