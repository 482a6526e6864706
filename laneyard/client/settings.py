"""Where the API is and the key to it: an argument wins, then the environment."""

from __future__ import annotations

import os

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 10.0
USER_AGENT = "laneyard-python"


def base_url(url: str | None) -> str:
    """``url``, else ``LANEYARD_URL``, else admission on this machine (``LANEYARD_HTTP_PORT``, 8080)."""
    chosen = url or os.environ.get("LANEYARD_URL")
    if chosen:
        return chosen.rstrip("/")
    port = os.environ.get("LANEYARD_HTTP_PORT")
    return f"http://127.0.0.1:{port}" if port else DEFAULT_URL


def headers(api_key: str | None) -> dict[str, str]:
    key = api_key if api_key is not None else os.environ.get("LANEYARD_API_KEY")
    out = {"User-Agent": USER_AGENT}
    if key:
        out["Authorization"] = f"Bearer {key}"
    return out
