"""Fairness weights through the API: a key's share of its lane (docs/fairness.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from laneyard.shared.models import json_number


class WeightBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weight: float = Field(gt=0, le=1000, description="the key's share against keys weighing 1")

    _number = field_validator("weight", mode="before")(json_number)


class FairnessWeight(BaseModel):
    lane: str
    key: str = Field(description="the fairness key; `default` is the lane's jobs without one")
    weight: float


class FairnessWeights(BaseModel):
    weights: list[FairnessWeight] = Field(description="keys given a weight; every other key weighs 1")
