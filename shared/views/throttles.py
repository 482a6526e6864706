"""Throttles through the API: the admission rates of lanes and clusters, in jobs per second."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from laneyard.shared.models import json_number


class RateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: float = Field(ge=0, le=1_000_000, description="jobs per second; 0 holds every job back")

    _number = field_validator("rate", mode="before")(json_number)


class Throttles(BaseModel):
    """The rates in force: the settings', overridden by those set through the API."""

    lanes: dict[str, float] = Field(description="jobs per second by lane")
    clusters: dict[str, float] = Field(description="jobs per second by cluster slug")
    window_seconds: float = Field(description="admissions are counted in windows this many seconds long")


class RateSet(BaseModel):
    kind: str = Field(description="lane or cluster")
    name: str = Field(description="the lane, or the cluster's slug")
    rate: float = Field(description="jobs per second")
