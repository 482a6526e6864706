"""Rates of job keys through the API: jobs per second by concurrency or fairness key."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from laneyard.shared.models import json_number


class KeyRateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    per_second: float = Field(
        ge=0, le=1_000_000, description="jobs per second; 0 holds every job of the key back"
    )

    _number = field_validator("per_second", mode="before")(json_number)


class KeyRates(BaseModel):
    """The rates in force: ``LANEYARD_KEY_RATES``, overridden by those set through the API."""

    rates: dict[str, float] = Field(
        description="jobs per second by key; a name ending in * holds every key starting with the rest, "
        "each on its own"
    )
    window_seconds: float = Field(description="admissions are counted in windows this many seconds long")


class KeyRateSet(BaseModel):
    key: str = Field(description="the key, or a prefix ending in *")
    per_second: float = Field(description="jobs per second")
