"""The fixed-window arithmetic of the rate limits: pure, no I/O.

Time is cut into windows of ``width`` seconds numbered from the epoch, so every replica that reads
a similar clock agrees on the current window. A rate that does not divide evenly is spread so that
the windows' limits add up exactly: window ``i`` gets ``floor(r*w*(i+1)) - floor(r*w*i)`` tokens.
"""

from __future__ import annotations

import math


def parse_rates(text: str) -> dict[str, float]:
    """``"main=200,bulk=50"`` -> ``{"main": 200.0, "bulk": 50.0}``; raises ValueError naming the bad part."""
    rates: dict[str, float] = {}
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        try:
            rate = float(value)
        except ValueError:
            rate = -1.0
        if not sep or not name.strip() or not math.isfinite(rate) or rate < 0:
            raise ValueError(f"bad rate {part!r}: expected name=jobs_per_second, e.g. main=200")
        rates[name.strip()] = rate
    return rates


def window_index(now: float, width: float) -> int:
    return math.floor(now / width)


def window_end(index: int, width: float) -> float:
    return (index + 1) * width


def window_limit(rate: float, width: float, index: int) -> int:
    per_window = rate * width
    # round() absorbs float noise such as 100 * 0.2 * 5 == 100.00000000000001.
    return math.floor(round(per_window * (index + 1), 6)) - math.floor(round(per_window * index, 6))


def batch_size(rate: float, width: float, most: int) -> int:
    """How many tokens a mover asks for at once: a quarter of a window, so replicas share a window."""
    return max(1, min(most, math.ceil(rate * width / 4)))
