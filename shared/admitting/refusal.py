"""Why a job was not admitted, in terms every way in can act on.

The core says what kind of refusal it is; admission turns the kind into an HTTP status, the AMQP
ingress into a dead letter (or a redelivery for ``RETRY``), a runner into ``SubtaskRejected``.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ValidationError


class RefusalKind(StrEnum):
    INVALID = "invalid"  # the submission cannot be run as it is
    TOO_LARGE = "too_large"  # its args are over the size limit
    NOT_FOUND = "not_found"  # it names something that does not exist (a cluster)
    CONFLICT = "conflict"  # what it names exists but cannot take it now (a cluster being deleted)
    RETRY = "retry"  # nothing is wrong with it; the same submission may go through shortly


# How admission answers each kind over HTTP; the metrics count refusals by the same code.
HTTP_STATUS: dict[RefusalKind, int] = {
    RefusalKind.INVALID: 422,
    RefusalKind.TOO_LARGE: 413,
    RefusalKind.NOT_FOUND: 404,
    RefusalKind.CONFLICT: 409,
    RefusalKind.RETRY: 503,
}


class NotAdmitted(Exception):
    """A submission that was not admitted; ``message`` says why in words a client can show."""

    def __init__(self, kind: RefusalKind, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.kind is RefusalKind.RETRY

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.kind]


def invalid_reason(exc: ValidationError) -> str:
    """The first few fields a validation error names, without their values (which may be secrets)."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "invalid submission: " + "; ".join(parts)
