"""How long a job that cannot go now waits in the delay queues."""

from __future__ import annotations

from laneyard.services.dispatcher.capacity import Decision
from laneyard.services.dispatcher.dispatch import step_aside_ms


def test_waiting_for_room_comes_back_soon_and_waiting_for_a_runner_backs_off_further() -> None:
    room = [step_aside_ms(Decision.NO_ROOM, n, 500, 30_000, 4_000) for n in range(8)]
    assert room == [500, 1000, 2000, 4000, 4000, 4000, 4000, 4000]
    assert step_aside_ms(Decision.RESERVED, 6, 500, 30_000, 4_000) == 4000
    runner = [step_aside_ms(Decision.NO_RUNNER, n, 500, 30_000, 4_000) for n in range(8)]
    assert runner[-1] == 30_000 and runner[:3] == [500, 1000, 2000]
    assert step_aside_ms(Decision.TOO_BIG, 10, 500, 30_000, 4_000) == 30_000
    # The room cap never exceeds the overall one.
    assert step_aside_ms(Decision.NO_ROOM, 10, 100, 1600, 4_000) == 1600
