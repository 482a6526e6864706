"""Reading a form body (``application/x-www-form-urlencoded``) without a multipart dependency."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

MAX_FORM_BYTES = 16 * 1024


class BadForm(ValueError):
    pass


def parse_form(body: bytes) -> dict[str, str]:
    """The last value of each field; a body too large or not text is refused."""
    if len(body) > MAX_FORM_BYTES:
        raise BadForm(f"the form is {len(body)} bytes; at most {MAX_FORM_BYTES} are accepted")
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise BadForm("the form is not UTF-8 text") from exc
    try:
        return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=50))
    except ValueError as exc:
        raise BadForm(f"the form could not be read: {exc}") from exc


_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def parse_rate(kind: str, name: str, raw: str) -> float | None:
    """A rate form's values, checked as the API checks its path and ``RateBody``; '' clears the rate."""
    if kind not in ("lane", "cluster"):
        raise ValueError("kind must be lane or cluster")
    if not _NAME.match(name):
        raise ValueError(f"{name[:80]!r} is not a {kind} name ([a-z0-9_-], up to 63 characters)")
    if raw == "":
        return None
    try:
        rate = float(raw)
    except ValueError as exc:
        raise ValueError(f"rate {raw[:40]!r} is not a number of jobs per second") from exc
    if not 0 <= rate <= 1_000_000:  # also refuses nan
        raise ValueError("rate must be between 0 and 1000000 jobs per second")
    return rate
