from __future__ import annotations

from laneyard.shared.amqp.topology import Names, delay_ladder, pick_delay


def test_ladder_doubles_to_the_cap() -> None:
    assert delay_ladder(500, 30_000) == [500, 1000, 2000, 4000, 8000, 16000, 30000]
    assert delay_ladder(100, 100) == [100]


def test_pick_delay_never_overshoots_unless_below_the_first_step() -> None:
    ladder = delay_ladder(500, 30_000)
    assert pick_delay(ladder, 10) == 500
    assert pick_delay(ladder, 500) == 500
    assert pick_delay(ladder, 2500) == 2000
    assert pick_delay(ladder, 10**9) == 30000


def test_names_are_prefixed() -> None:
    n = Names("lx")
    assert n.submit_exchange == "lx.submit"
    assert n.lane_queue("main", "gpu-1") == "lx.lane.main.gpu-1"
    assert Names.lane_key("main", "gpu-1") == "main.gpu-1"
    assert n.cluster_queue("gpu-1") == "lx.cluster.gpu-1"
