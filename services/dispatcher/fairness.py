"""Lane shares: lanes that have work share a cluster by weight.

Pure logic. A lane's use is its dominant share (the largest of its CPU, memory and slot fractions
of what the cluster offers, DRF-style). A lane may take more than its weighted share only while no
other lane with work is below its own share: the rule never leaves capacity idle.
"""

from __future__ import annotations

from laneyard.services.dispatcher.capacity import LaneUsage, Totals


def parse_weights(spec: str) -> dict[str, float]:
    """``"main=2,bulk=1"`` -> {"main": 2.0, "bulk": 1.0}; lanes not named weigh 1."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            raise ValueError(f"lane weight {part!r} is not name=number") from None
        if weight <= 0:
            raise ValueError(f"lane weight {part!r} must be positive")
        weights[name.strip()] = weight
    return weights


def dominant_share(usage: LaneUsage | None, totals: Totals) -> float:
    if usage is None:
        return 0.0
    fractions = [
        usage.cpu / totals.offered_cpu if totals.offered_cpu else 0.0,
        usage.mem / totals.offered_mem if totals.offered_mem else 0.0,
        usage.jobs / totals.slots if totals.slots else 0.0,
    ]
    return max(fractions)


def over_share(
    lane: str,
    usage: dict[str, LaneUsage],
    lanes_with_work: set[str],
    weights: dict[str, float],
    totals: Totals,
) -> bool:
    """Whether ``lane`` should yield: it is at or above its weighted share while another lane with
    work is below its own."""
    contenders = lanes_with_work | {lane}
    if len(contenders) < 2:
        return False
    total_weight = sum(weights.get(name, 1.0) for name in contenders)

    def entitled(name: str) -> float:
        return weights.get(name, 1.0) / total_weight

    if dominant_share(usage.get(lane), totals) < entitled(lane):
        return False
    return any(
        dominant_share(usage.get(other), totals) < entitled(other) for other in contenders if other != lane
    )
