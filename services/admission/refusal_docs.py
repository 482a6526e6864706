"""How the OpenAPI document describes a refused request, so that clients (and generated ones) know
every answer they can get: each refusal is JSON whose ``detail`` says why, in a sentence, or, for a
request that does not validate, in one entry per field.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Refusal(BaseModel):
    detail: str = Field(min_length=1, description="why, in words a client can show")


class FieldProblem(BaseModel):
    loc: list[str | int] = Field(description="where: body, query, path or header, then the field")
    msg: str
    type: str


class Invalid(BaseModel):
    detail: str | list[FieldProblem] = Field(
        min_length=1, description="why: a sentence, or each field that does not validate"
    )


WHY: dict[int, str] = {
    400: "the body could not be parsed",
    401: "no API key, or one that is not valid (when keys are configured)",
    403: "the API key does not have the scope, lane or cluster this needs",
    404: "what the request names does not exist",
    409: "what the request names cannot take this now",
    413: "the request body, or the job's args, is over the size limit",
    422: "the request does not validate",
    429: "too many failed authentications from this address: retry after Retry-After seconds",
    503: "the message broker or the database is unavailable, or the request should be retried: "
    "retry after Retry-After seconds",
}


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route (or router) that may refuse with these statuses. A refusal is
    JSON whatever the route answers otherwise (an event stream, say): FastAPI files ``model`` under
    the route's media type, so ``application/json`` is named as well."""
    answers: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        model = Invalid if status == 422 else Refusal
        json = {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
        answers[status] = {"model": model, "description": WHY[status], "content": {"application/json": json}}
    return answers


# What any route behind an API key may answer: a body that cannot be parsed, its key refused or
# lacking, something it names that does not exist (a job, a cluster, a lane's setting...), the body
# over the limit (checked for every path before routing), a parameter that does not validate, the
# broker or the database away. Routes add what only they answer (409, another 2xx).
EVERY_API_ROUTE = refusals(400, 401, 403, 404, 413, 422, 429, 503)
