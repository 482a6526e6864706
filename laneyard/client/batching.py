"""``submit_many``'s decisions: checking each job before it is sent, chunking, reading the answers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import ValidationError

from laneyard.client.calls import JobSpec, SubmitOptions, submission
from laneyard.errors import Refused
from laneyard.shared.admitting.refusal import invalid_reason
from laneyard.shared.models import MAX_BATCH, BatchItem, Submission

# The statuses of a batch item that say "retry this one": the others in its batch stand.
RETRY_ITEM = frozenset({429, 502, 503, 504})


def body_of(spec: JobSpec) -> dict[str, Any] | Refused:
    """The job's body, or why the server would refuse it (checked here, so that one bad job does not
    refuse the whole batch it travels in)."""
    fields = dict(spec)
    task = fields.pop("task", None)
    args = fields.pop("args", None)
    if not isinstance(task, str):
        return Refused("every job needs a task name", 422)
    if args is not None and not isinstance(args, dict):
        return Refused("args must be an object", 422)
    options: SubmitOptions = fields  # type: ignore[assignment]
    body = submission(task, args, options)
    try:
        Submission.model_validate(body)
    except ValidationError as exc:
        return Refused(invalid_reason(exc), 422)
    return body


def chunked(
    items: Iterable[tuple[int, dict[str, Any]]], size: int = MAX_BATCH
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    chunk: list[tuple[int, dict[str, Any]]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def refusal(item: BatchItem) -> Refused | None:
    if item.status < 300:
        return None
    return Refused(item.detail or "refused", item.status)


def retry_item(item: BatchItem) -> bool:
    return item.status in RETRY_ITEM


def sort_out(
    chunk: list[tuple[int, dict[str, Any]]], items: list[BatchItem], may_retry: bool
) -> tuple[list[tuple[int, BatchItem]], list[tuple[int, dict[str, Any]]]]:
    """A batch's answers: the items settled (admitted, duplicate or refused for good), by their
    place in the caller's list, and the jobs to send again (answered "not now", retries left)."""
    settled: list[tuple[int, BatchItem]] = []
    again: list[tuple[int, dict[str, Any]]] = []
    for (index, body), item in zip(chunk, items, strict=True):
        if may_retry and retry_item(item):
            again.append((index, body))
        else:
            settled.append((index, item))
    return settled, again


def answer(item: BatchItem) -> tuple[str, bool] | Refused:
    """A settled item's job id and whether it was a duplicate, or why it was refused."""
    if item.id is not None and item.status < 300:
        return item.id, item.duplicate
    return refusal(item) or Refused("no job id in the answer", 502)
