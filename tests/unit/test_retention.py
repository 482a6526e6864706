"""Retention decisions: which setting wins, when a record expires."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from laneyard.shared import retention
from laneyard.shared.models import Submission
from laneyard.shared.retention import Retention, parse_lane_days
from laneyard.shared.settings import Settings


def test_a_submission_beats_its_lane_which_beats_the_default() -> None:
    policy = Retention.of(Settings(retention_days=30, lane_retention="reports=90, tmp=0.5"))
    assert policy.days_for("reports", 2.0) == 2.0
    assert policy.days_for("reports") == 90.0
    assert policy.days_for("tmp") == 0.5
    assert policy.days_for("main") == 30.0


@pytest.mark.parametrize("text", ["reports", "reports=", "=3", "tmp=0", "tmp=-1", "tmp=x"])
def test_a_bad_lane_retention_is_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match="LANEYARD_LANE_RETENTION"):
        parse_lane_days(text)


def test_expiry_is_the_end_plus_the_retention() -> None:
    assert retention.expire_at(0.0, 1.5) == datetime(1970, 1, 2, 12, tzinfo=UTC)
    assert retention.expire_at(0.0, None) == datetime(1970, 1, 31, tzinfo=UTC)


def test_expire_at_reads_back_from_either_server() -> None:
    when = datetime(2030, 1, 1, tzinfo=UTC)
    assert retention.as_datetime(when) == when
    assert retention.as_datetime(when.replace(tzinfo=None)) == when
    assert retention.as_datetime("2030-01-01T00:00:00") == when
    assert retention.as_datetime("nonsense") is None and retention.as_datetime(None) is None


def test_only_unfinished_children_keep_a_job() -> None:
    assert not retention.unfinished_children({})
    assert not retention.unfinished_children({"children": {"a": {"state": "COMPLETED"}}})
    assert retention.unfinished_children({"children": {"a": {"state": "ERROR"}, "b": {"attempt": 1}}})


@pytest.mark.parametrize("value", [0, -1, 40_000, "5", True])
def test_a_submission_refuses_a_bad_retention(value: object) -> None:
    with pytest.raises(ValidationError, match="retention_days"):
        Submission.model_validate({"task": "demo.echo", "retention_days": value})
    assert Submission.model_validate({"task": "demo.echo", "retention_days": 0.5}).retention_days == 0.5
