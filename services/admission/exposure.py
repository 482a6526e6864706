"""Whether admission may listen where it was told to: closed unless configured.

With no API keys, anyone who can reach the API can submit and cancel jobs, so admission then
listens on loopback only, as Redis (protected mode) and RabbitMQ's guest user do. Listening on
any other address without keys is refused at start-up, unless ``LANEYARD_ALLOW_OPEN=1`` says it
is meant (a demo behind a private network, say).
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def refusal(host: str, keys_configured: bool, allow_open: bool) -> str | None:
    """Why admission must not start listening on ``host``, or None if it may."""
    if keys_configured or allow_open or is_loopback(host):
        return None
    return (
        f"refusing to listen on {host!r} without API keys: anyone who can reach it could submit and "
        "cancel jobs. Configure keys (LANEYARD_API_KEYS='<a long random key>:submit,read,admin'), "
        "listen on loopback only "
        "(LANEYARD_HTTP_HOST=127.0.0.1, the default), or set LANEYARD_ALLOW_OPEN=1 to run it open on purpose"
    )
