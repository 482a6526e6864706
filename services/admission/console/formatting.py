"""How values read in the pages: times as ISO 8601 in UTC (the browser shows them in the viewer's
zone), ages and amounts short enough for a phone's width."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def iso(at: Any) -> str:
    """An epoch time or datetime as ISO 8601 UTC; '' for none."""
    if at is None or at == "":
        return ""
    if isinstance(at, datetime):
        moment = at if at.tzinfo else at.replace(tzinfo=UTC)
    else:
        try:
            moment = datetime.fromtimestamp(float(at), UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            return ""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def percent(part: float, whole: float) -> int:
    return 0 if whole <= 0 else max(0, min(100, round(100 * part / whole)))
