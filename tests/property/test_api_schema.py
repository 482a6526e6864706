"""Schemathesis against the OpenAPI document of a live admission (a ``laneyard admission`` process on
real RabbitMQ and MongoDB): every operation, with random and boundary bodies, headers and query
strings, each case sent with an admin key, and again with no key, with a key that is not valid and
with a key of too narrow a scope.

Every answer must be one the document describes (status, content type, schema), never a 5xx, and
every 4xx must carry a message. ``LANEYARD_FUZZ_EXAMPLES`` sets the cases per operation (``make fuzz``).
What is not in the document is not fuzzed: /metrics (Prometheus text; it takes no input), the
document itself (/openapi.json, /docs, /redoc) and the web console's pages.
"""

from __future__ import annotations

import schemathesis
from schemathesis import Case

from laneyard.shared.settings import Settings
from tests.support.fuzzing import (
    ADMIN_KEY,
    API_KEYS,
    READ_KEY,
    SUBMIT_KEY,
    FreshAddresses,
    LiveAdmission,
    examples,
    openapi_document,
    refusal_detail,
)
from tests.support.fuzzing import live_admission_of_module as live_admission_of_module  # a fixture

EXAMPLES = examples(default=25)
ACCEPTED_OR_EXPLAINED = ["2xx", "401", "403", "404", "409", "422", "429", "5xx"]
# The document the app describes itself with, built at collection time (Schemathesis makes one test
# per operation from it); the test checks that the live admission serves the same one.
DOCUMENT = openapi_document(Settings(api_keys=API_KEYS))
schema = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=schemathesis.Config.from_dict(
        {
            "generation": {
                "max-examples": EXAMPLES,
                # The API ignores query parameters it does not know, as HTTP APIs commonly do.
                "allow-extra-parameters": False,
            },
            "suppress-health-check": ["all"],
            "auth": {"openapi": {"HTTPBearer": {"bearer": ADMIN_KEY}}},
            # It sends each case again without the key from this same address; the probes below
            # do that from fresh addresses, and check the message too.
            "checks": {"ignored_auth": {"enabled": False}},
            "operations": [
                {
                    # Requests the document cannot tell from good ones, refused 422 with the reason:
                    # an opaque page cursor (good only if the API handed it out); a job's args that
                    # a job document cannot hold (integers beyond 64 bits, over 32 levels deep);
                    # webhooks while none are configured; rules between fields (one of every, cron
                    # or start_after; a range's order); a cron expression's syntax; a start_after
                    # job that must exist.
                    "include-name": [
                        "GET /v1/jobs",
                        "GET /v1/dead-letters",
                        "POST /v1/jobs",
                        "POST /v1/jobs/batch",
                        "POST /v1/schedules",
                        "POST /v1/schedules/{schedule_id}/backfill",
                        "POST /v1/webhooks",
                    ],
                    "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED_OR_EXPLAINED}},
                },
                {
                    # The same for a label filter's key:value form; an opaque Last-Event-ID that the
                    # stream did not send is refused 400, as the SSE convention has it. A following
                    # stream never ends, by design: every case asks for what is there.
                    "include-name": "GET /v1/events",
                    "checks": {
                        "positive_data_acceptance": {"expected-statuses": ["400", *ACCEPTED_OR_EXPLAINED]}
                    },
                    "parameters": {"query.follow": False},
                },
            ],
            # A bound on a request that hangs, far beyond any answer's time.
            "request-timeout": 60,
        }
    ),
)
addresses = FreshAddresses()


def test_the_live_admission_serves_the_document_the_tests_were_made_from(
    live_admission_of_module: LiveAdmission,
) -> None:
    assert live_admission_of_module.document == DOCUMENT


def check_refusal(answer: schemathesis.Response) -> str:
    return refusal_detail(answer.status_code, answer.headers.get("content-type", [""])[0], answer.content)


def secured(case: Case) -> bool:
    return bool(DOCUMENT["paths"][case.operation.path][case.operation.method.lower()].get("security"))


@schema.parametrize()
def test_every_operation_answers_as_its_document_says(
    case: Case, live_admission_of_module: LiveAdmission
) -> None:
    admission = live_admission_of_module
    admission.cases[case.operation.label] += 1
    with addresses.session() as session:
        answer = case.call_and_validate(base_url=admission.url, session=session)
    admission.requests += 1
    if 400 <= answer.status_code < 500:
        check_refusal(answer)
    # The same request with other keys, where the key decides: not for a method the operation does
    # not have (405 comes first), nor for a case made without the Authorization header.
    if not secured(case) or case.method.upper() != case.operation.method.upper() or answer.status_code == 401:
        return
    # FastAPI parses the body before it looks at the key: a body that is not JSON is refused as such.
    unreadable = (
        {answer.status_code} if answer.status_code == 400 or b"json_invalid" in answer.content else set()
    )
    # Expected: the refusals the key must get, or None: the key must not be what refuses it. A key
    # reads with "read", and every change takes "submit" or "admin" (which "submit" it is, the probes
    # do not know, so the submit-only key only reads).
    probes: list[tuple[str | None, set[int] | None]] = [(None, {401}), ("not-a-key", {401})]
    if case.method.upper() == "GET":
        probes += [(READ_KEY, None), (SUBMIT_KEY, {403})]
    else:
        probes += [(READ_KEY, {403})]
    for key, expected in probes:
        with addresses.session() as session:
            probe = case.call(
                base_url=admission.url,
                session=session,
                headers={"Authorization": f"Bearer {key}" if key else None},
            )
        admission.requests += 1
        case.validate_response(probe)
        if expected is None:
            assert probe.status_code not in (401, 403, 429), (key, probe.status_code, probe.content[:300])
            continue
        assert probe.status_code in expected | unreadable, (key, probe.status_code, probe.content[:300])
        check_refusal(probe)
