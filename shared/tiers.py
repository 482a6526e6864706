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


# estela's table, exactly: requests are what capacity accounting books, limits what a subprocess
# task is capped at (its memory soft limit is SOFT_MEMORY_FRACTION of the limit).
TIERS: dict[Tier, TierSpec] = {
    Tier.TINY: TierSpec(Resources(128, 96), Resources(256, 128)),
    Tier.XSMALL: TierSpec(Resources(192, 192), Resources(384, 256)),
    Tier.SMALL: TierSpec(Resources(256, 384), Resources(512, 512)),
    Tier.MEDIUM: TierSpec(Resources(256, 768), Resources(512, 1024)),
    Tier.LARGE: TierSpec(Resources(512, 1152), Resources(1024, 1536)),
    Tier.XLARGE: TierSpec(Resources(512, 1536), Resources(1024, 2048)),
    Tier.HUGE: TierSpec(Resources(1024, 3072), Resources(2048, 4096)),
    Tier.XHUGE: TierSpec(Resources(2048, 6144), Resources(4096, 8192)),
}
# A subprocess task past this share of its tier's memory limit is warned, then stopped at the limit.
SOFT_MEMORY_FRACTION = 0.85


def request_of(tier: Tier) -> Resources:
    return TIERS[tier].request


def limit_of(tier: Tier) -> Resources:
    return TIERS[tier].limit
