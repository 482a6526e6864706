"""How admission's HTTP server listens: HTTP or HTTPS, and whose forwarded headers it believes.

HTTPS needs ``LANEYARD_HTTP_TLS_CERTFILE`` (a PEM certificate chain; it may hold the key too) and
usually ``LANEYARD_HTTP_TLS_KEYFILE``. Behind a reverse proxy, the address a request came from is
the proxy's; ``LANEYARD_FORWARDED_ALLOW_IPS`` names the proxies whose ``X-Forwarded-For`` and
``X-Forwarded-Proto`` are believed. Nobody is believed by default: a client that could set its own
``X-Forwarded-For`` could pick the address its failed authentications are counted under, and
escape that limit by changing it on every try.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from laneyard.shared.settings import Settings

ANYONE = "*"


@dataclass(frozen=True)
class Listening:
    scheme: str
    certfile: str | None
    keyfile: str | None
    trusted_proxies: tuple[str, ...]


def trusted_proxies(text: str) -> tuple[str, ...]:
    """The comma-separated addresses and networks of ``text``; ``*`` alone trusts every peer.
    Raises ValueError naming an entry that is neither, rather than trusting a typo as a literal."""
    entries = tuple(e.strip() for e in text.split(",") if e.strip())
    if ANYONE in entries:
        if len(entries) > 1:
            raise ValueError("LANEYARD_FORWARDED_ALLOW_IPS: '*' trusts every peer; list nothing beside it")
        return entries
    for entry in entries:
        try:
            if "/" in entry:
                ipaddress.ip_network(entry, strict=False)
            else:
                ipaddress.ip_address(entry)
        except ValueError:
            raise ValueError(
                f"LANEYARD_FORWARDED_ALLOW_IPS: {entry!r} is not an IP address or network"
            ) from None
    return entries


def listening(settings: Settings) -> Listening:
    """What the settings ask for; raises ValueError when they contradict each other."""
    certfile = settings.http_tls_certfile or None
    keyfile = settings.http_tls_keyfile or None
    if keyfile is not None and certfile is None:
        raise ValueError("LANEYARD_HTTP_TLS_KEYFILE is set but LANEYARD_HTTP_TLS_CERTFILE is not")
    return Listening(
        "https" if certfile else "http", certfile, keyfile, trusted_proxies(settings.forwarded_allow_ips)
    )


def server_options(chosen: Listening) -> dict[str, Any]:
    """uvicorn.Config's arguments for ``chosen``. Forwarded headers are read only when some proxy
    is trusted; uvicorn's own default (trust loopback, or $FORWARDED_ALLOW_IPS) never applies."""
    return {
        "ssl_certfile": chosen.certfile,
        "ssl_keyfile": chosen.keyfile,
        "proxy_headers": bool(chosen.trusted_proxies),
        "forwarded_allow_ips": list(chosen.trusted_proxies),
    }
