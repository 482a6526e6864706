from __future__ import annotations

import pytest

from laneyard.services.dispatcher.capacity import LaneUsage, Totals
from laneyard.services.dispatcher.fairness import dominant_share, over_share, parse_weights

TOTALS = Totals(offered_cpu=4000, offered_mem=8000, slots=10, runners=1)


def test_parse_weights() -> None:
    assert parse_weights("main=2, bulk=1") == {"main": 2.0, "bulk": 1.0}
    assert parse_weights("") == {}
    with pytest.raises(ValueError):
        parse_weights("main=0")
    with pytest.raises(ValueError):
        parse_weights("main")


def test_dominant_share_takes_the_scarcest_resource() -> None:
    assert dominant_share(LaneUsage(cpu=400, mem=100, jobs=5), TOTALS) == 0.5  # slots dominate


def test_a_lone_lane_may_take_everything() -> None:
    usage = {"a": LaneUsage(cpu=4000, mem=0, jobs=10)}
    assert not over_share("a", usage, set(), {}, TOTALS)


def test_equal_weights_split_in_half() -> None:
    usage = {"a": LaneUsage(jobs=5), "b": LaneUsage(jobs=2)}
    assert over_share("a", usage, {"b"}, {}, TOTALS)  # a has 50 %, b is below its 50 %
    assert not over_share("b", usage, {"a"}, {}, TOTALS)
    usage = {"a": LaneUsage(jobs=4), "b": LaneUsage(jobs=2)}
    assert not over_share("a", usage, {"b"}, {}, TOTALS)


def test_weights_shift_the_split() -> None:
    usage = {"a": LaneUsage(jobs=6), "b": LaneUsage(jobs=2)}
    assert not over_share("a", usage, {"b"}, {"a": 3, "b": 1}, TOTALS)  # a is entitled to 75 %
    usage = {"a": LaneUsage(jobs=8), "b": LaneUsage(jobs=1)}
    assert over_share("a", usage, {"b"}, {"a": 3, "b": 1}, TOTALS)


def test_work_conserving_when_the_other_lane_is_satisfied() -> None:
    # b has work but already holds its share: a may use what is left.
    usage = {"a": LaneUsage(jobs=5), "b": LaneUsage(jobs=5)}
    assert not over_share("a", {"a": LaneUsage(jobs=4), "b": LaneUsage(jobs=5)}, {"b"}, {}, TOTALS)
    assert over_share("a", usage, {"b"}, {}, TOTALS) is False
