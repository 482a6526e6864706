"""Concurrency keys through the API: at most N jobs of a key running at once (docs/fairness.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from laneyard.shared.concurrency_limits import MAX_RUNNING
from laneyard.shared.models import json_number


class LimitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_running: int = Field(
        ge=0, le=MAX_RUNNING, description="jobs of the key running at once, cluster-wide; 0 holds them all"
    )

    _number = field_validator("max_running", mode="before")(json_number)


class LimitSet(BaseModel):
    key: str = Field(description="the concurrency key, or a prefix ending in *")
    max_running: int


class KeyUse(BaseModel):
    key: str
    running: int = Field(description="slots taken: its jobs WAITING for or RUNNING on a runner")
    max_running: int | None = Field(description="the limit in force for it; null: none")
    parked: bool = Field(description="jobs of it wait for a free slot")


class ConcurrencyView(BaseModel):
    limits: dict[str, int] = Field(
        description="LANEYARD_CONCURRENCY_LIMITS, overridden by those set through the API; a name "
        "ending in * bounds every key starting with the rest, each on its own"
    )
    keys: list[KeyUse] = Field(description="keys that hold slots or have parked jobs")
