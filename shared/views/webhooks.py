"""Webhook subscriptions and deliveries as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from laneyard.shared.models import Slug
from laneyard.shared.states import JobState
from laneyard.shared.store.database import Doc
from laneyard.shared.views import utc

ENDED = [JobState.COMPLETED, JobState.ERROR, JobState.CANCELLED]


class WebhookCreate(BaseModel):
    """``POST /v1/webhooks``: POST the end of every job of ``lane`` (of ``cluster``, else of any)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048, description="http(s) URL; signed POSTs (docs/webhooks.md)")
    events: list[JobState] = Field(
        default_factory=lambda: list(ENDED),
        min_length=1,
        description="end states: COMPLETED, ERROR, CANCELLED",
    )
    lane: Slug = "main"
    cluster: Slug | None = Field(None, description="only this cluster's jobs; none: every cluster's")


class WebhookView(BaseModel):
    id: str
    url: str
    events: list[str]
    lane: str
    cluster: str | None
    created_at: datetime | None

    @classmethod
    def of(cls, doc: Doc) -> WebhookView:
        return cls(
            id=doc["_id"], url=doc["url"], events=list(doc.get("events") or []), lane=doc["lane"],
            cluster=doc.get("cluster"), created_at=utc(doc.get("created_at")),
        )  # fmt: skip


class WebhookList(BaseModel):
    webhooks: list[WebhookView]


class AttemptView(BaseModel):
    at: datetime | None
    status: int | None = Field(description="the receiver's HTTP status; null if none came")
    error: str | None
    ms: float | None


class DeliveryView(BaseModel):
    id: str = Field(description="the Laneyard-Delivery header: the same on every attempt")
    job_id: str
    url: str
    source: str = Field(description="callback_url, or subscription:<id>")
    state: str = Field(description="pending, delivered, failed (gave up) or refused (address not allowed)")
    attempts_made: int
    next_at: datetime | None = Field(description="the next attempt, while pending")
    delivered_at: datetime | None
    last_error: str | None
    attempts: list[AttemptView] = Field(description="the latest attempts, oldest first")

    @classmethod
    def of(cls, doc: Doc) -> DeliveryView:
        attempts: list[Any] = [a for a in doc.get("attempts") or [] if isinstance(a, dict)]
        pending = doc.get("state") == "pending"
        return cls(
            id=doc["_id"], job_id=doc["job_id"], url=doc["url"], source=str(doc.get("source")),
            state=str(doc.get("state")), attempts_made=int(doc.get("attempts_made") or 0),
            next_at=utc(doc.get("next_at")) if pending else None, delivered_at=utc(doc.get("delivered_at")),
            last_error=doc.get("last_error"),
            attempts=[
                AttemptView(at=utc(a.get("at")), status=a.get("status"), error=a.get("error"), ms=a.get("ms"))
                for a in attempts
            ],
        )  # fmt: skip


class DeliveryList(BaseModel):
    deliveries: list[DeliveryView]
