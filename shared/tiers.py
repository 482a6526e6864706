"""Resource tiers (estela-style): what a job of each tier reserves on a runner, and its hard limits.

Requests are what capacity accounting books; limits are what a subprocess task is capped at.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Tier(StrEnum):
    TINY = "TINY"
    XSMALL = "XSMALL"
    SMALL = "SMALL"
    MEDIUM = "MEDIUM"
    LARGE = "LARGE"
    XLARGE = "XLARGE"
    HUGE = "HUGE"
    XHUGE = "XHUGE"


class Resources(NamedTuple):
    cpu_millicores: int
    memory_mib: int


class TierSpec(NamedTuple):
    request: Resources
    limit: Resources


TIERS: dict[Tier, TierSpec] = {
    Tier.TINY: TierSpec(Resources(100, 128), Resources(200, 256)),
    Tier.XSMALL: TierSpec(Resources(250, 256), Resources(500, 512)),
    Tier.SMALL: TierSpec(Resources(500, 512), Resources(1000, 1024)),
    Tier.MEDIUM: TierSpec(Resources(1000, 1024), Resources(2000, 2048)),
    Tier.LARGE: TierSpec(Resources(1500, 2048), Resources(3000, 4096)),
    Tier.XLARGE: TierSpec(Resources(2000, 4096), Resources(4000, 8192)),
    Tier.HUGE: TierSpec(Resources(4000, 8192), Resources(8000, 16384)),
    Tier.XHUGE: TierSpec(Resources(8000, 16384), Resources(16000, 32768)),
}


def request_of(tier: Tier) -> Resources:
    return TIERS[tier].request


def limit_of(tier: Tier) -> Resources:
    return TIERS[tier].limit
