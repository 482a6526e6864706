"""Pauses through the API: lanes and clusters that accept jobs but dispatch none until resumed."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PauseView(BaseModel):
    lane: str | None = Field(description="the lane; null when the whole cluster is paused (drained)")
    cluster: str | None = Field(
        description="the cluster's slug; null when the lane is paused on every cluster"
    )
    paused: bool = Field(description="whether this pause is in force after the request")
    paused_at: float | None = Field(None, description="epoch seconds: when it was paused")


class PauseList(BaseModel):
    pauses: list[PauseView] = Field(description="every pause in force, by lane and cluster")
