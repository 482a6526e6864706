"""The OpenAPI document says every answer the API can give: each refusal JSON with a ``detail``, and
a 405's ``Allow`` names the methods of the path as the document resolves it."""

from __future__ import annotations

from typing import Any

import httpx

from laneyard.services.admission.allowed_methods import documented_methods
from laneyard.shared.settings import Settings
from tests.support.fuzzing import API_KEYS, openapi_app, openapi_document

PATHS: dict[str, dict[str, Any]] = {
    "/v1/jobs": {"get": {}, "post": {}},
    "/v1/jobs/batch": {"post": {}},
    "/v1/jobs/{job_id}": {"get": {}},
    "/v1/jobs/{job_id}/cancel": {"post": {}},
}


def test_a_path_is_its_most_concrete_documented_one() -> None:
    assert documented_methods(PATHS, "/v1/jobs") == ["GET", "POST"]
    assert documented_methods(PATHS, "/v1/jobs/batch") == ["POST"]
    assert documented_methods(PATHS, "/v1/jobs/abc") == ["GET"]
    assert documented_methods(PATHS, "/v1/jobs/abc/cancel") == ["POST"]
    assert documented_methods(PATHS, "/v1/jobs/a/b/c") is None
    assert documented_methods(PATHS, "/metrics") is None


def refs(node: object) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(v) for v in node))
    return set()


def test_every_refusal_is_documented_as_json_with_a_detail() -> None:
    document = openapi_document(Settings(api_keys=API_KEYS))
    schemas = document["components"]["schemas"]
    assert {r.removeprefix("#/components/schemas/") for r in refs(document)} <= set(schemas)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if not status.startswith("4"):
                    continue
                schema = answer["content"]["application/json"]["schema"]
                name = schema["$ref"].removeprefix("#/components/schemas/")
                assert "detail" in schemas[name]["required"], (method, path, status)
            if operation.get("security"):
                assert {"401", "403", "429", "503"} <= set(operation["responses"]), (method, path)


async def test_a_405_allows_every_method_of_the_path() -> None:
    app = openapi_app(Settings(api_keys=API_KEYS))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://admission") as c:
        for method, path, allowed in [
            ("OPTIONS", "/v1/jobs", "GET, POST"),
            ("PATCH", "/v1/jobs/batch", "POST"),
            ("PUT", "/v1/jobs/abc", "GET"),
            ("DELETE", "/healthz", "GET"),
        ]:
            answer = await c.request(method, path)
            assert (answer.status_code, answer.headers["allow"]) == (405, allowed), (method, path)
            assert answer.json()["detail"]
