"""Dead letters through the API: what could not be processed, and the job a replay made of it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from laneyard.shared.views import utc


class DeadLetterItem(BaseModel):
    id: str = Field(description="the dead letter id")
    job_id: str | None = Field(description="the job it was part of, when known")
    source: str | None = Field(description="the service that recorded it: admission, dispatcher or runner")
    reason: str | None = Field(description="why it could not be processed")
    recorded_at: datetime | None = Field(description="when it was recorded")
    replayed: bool = Field(description="a replay has admitted a job from it")
    replay_job_id: str | None = Field(description="the job its replay admitted")

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> DeadLetterItem:
        return cls(**_item_fields(doc))


class DeadLetterDetail(DeadLetterItem):
    replayed_at: datetime | None = Field(description="when it was replayed")
    body: Any = Field(description="the message as recorded: parsed if it is JSON, else its text")
    body_truncated: bool = Field(description="the body was cut at 64 KiB when recorded (not replayable)")

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> DeadLetterDetail:
        text = str(doc.get("body") or "")
        body: Any = text
        try:
            body = json.loads(text)
        except ValueError:
            pass
        return cls(
            **_item_fields(doc),
            replayed_at=utc(doc.get("replayed_at")),
            body=body,
            body_truncated=bool(doc.get("body_truncated")),
        )


def _item_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    replay = doc.get("replay_job_id")
    return {
        "id": doc["_id"],
        "job_id": doc.get("job_id"),
        "source": doc.get("source"),
        "reason": doc.get("reason"),
        "recorded_at": utc(doc.get("at")),
        "replayed": bool(replay),
        "replay_job_id": replay or None,
    }


class DeadLetterPage(BaseModel):
    items: list[DeadLetterItem] = Field(description="newest first, without bodies")
    next: str | None = Field(description="pass as cursor for the next page; null on the last")


class ReplayResult(BaseModel):
    id: str = Field(description="the dead letter")
    job_id: str = Field(description="the job the replay admitted")
    duplicate: bool = Field(description="it was replayed before: this is the job that replay admitted")
