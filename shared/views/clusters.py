"""Clusters through the API: the body that creates one, and how one looks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from laneyard.shared.views import utc
from laneyard.shared.views.names import Name


class ClusterCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="any name; the slug is made from it")


class ClusterView(BaseModel):
    slug: str = Field(description="the name made URL-safe plus four random characters, e.g. gpu-farm-3kq9")
    name: str | None = Field(description="the name it was created with")
    created_at: datetime | None = Field(description="when it was created")

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> ClusterView:
        return cls(slug=doc["_id"], name=doc.get("name"), created_at=utc(doc.get("created_at")))


class ClusterList(BaseModel):
    clusters: list[ClusterView] = Field(description="by slug")
