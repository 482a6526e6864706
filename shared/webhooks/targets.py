"""Which callback URLs Laneyard may call: the SSRF guard, as pure decisions.

A URL must be http(s) with a host. Its host is resolved by the sender, and every address it
resolves to is checked: private, loopback, link-local, multicast, reserved and unspecified
addresses are refused unless the host matches ``LANEYARD_WEBHOOK_ALLOW`` (host patterns such as
``hooks.example.com,*.internal.example,127.0.0.1``). The sender then connects to the address it
checked, so a second DNS answer cannot swap in another (rebinding).
"""

from __future__ import annotations

import fnmatch
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL = 2048


class RefusedTarget(ValueError):
    """A callback URL or address Laneyard will not call; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower-cased; an IPv6 literal without brackets
    port: int
    path: str  # with the query


def parse_allow(text: str) -> tuple[str, ...]:
    """``"a.example.com, *.b.example"`` -> lower-cased patterns."""
    return tuple(p.strip().lower() for p in text.split(",") if p.strip())


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(host.lower(), p) for p in patterns)


def parse(url: str) -> Target:
    """The URL's parts, or ``RefusedTarget`` saying what is wrong with it."""
    if len(url) > MAX_URL:
        raise RefusedTarget(f"callback_url is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedTarget(f"callback_url is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise RefusedTarget("callback_url must be an http:// or https:// URL")
    if not parts.hostname:
        raise RefusedTarget("callback_url has no host")
    if parts.username is not None or parts.password is not None:
        raise RefusedTarget("callback_url must not carry credentials; requests are signed instead")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname.lower(), port or default, path)


def literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def refusal(host: str, address: str, patterns: tuple[str, ...]) -> str | None:
    """Why ``address`` (one that ``host`` resolved to) may not be called; None if it may."""
    if host_allowed(host, patterns):
        return None
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # The narrowest kind first: Python counts loopback and link-local addresses as private too.
    kinds = [
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not globally routable", not ip.is_global),
    ]
    for kind, hit in kinds:
        if hit:
            return (
                f"{host} resolves to {ip}, a {kind} address; Laneyard does not call those unless the "
                "host is listed in LANEYARD_WEBHOOK_ALLOW"
            )
    return None


def check_submitted(url: str, patterns: tuple[str, ...]) -> Target:
    """The check at submission time, before any DNS: the URL's form, and a literal address's kind.
    Names are resolved and checked again by the sender, for every delivery."""
    target = parse(url)
    if literal_address(target.host) is not None:
        why = refusal(target.host, target.host, patterns)
        if why is not None:
            raise RefusedTarget(why)
    return target
