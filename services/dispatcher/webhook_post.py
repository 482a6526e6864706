"""One webhook attempt: resolve the host, check every address, POST to the checked one.

The request goes to the address that was checked (``targets.refusal``), not to the name, so a
second DNS answer cannot point it elsewhere (rebinding); the ``Host`` header and, for https, the
TLS server name (SNI, and the name the certificate is verified against) stay the URL's host.
Redirects are not followed and proxies from the environment are not used: either would send the
request somewhere that was not checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time

import httpx

from laneyard.shared.webhooks import signing, targets
from laneyard.shared.webhooks.config import WebhookConfig
from laneyard.shared.webhooks.retries import Outcome

USER_AGENT = "Laneyard-Webhooks/1"


def client(config: WebhookConfig) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=config.timeout,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=16, max_keepalive_connections=0),
    )


async def resolve(host: str, port: int, within: float) -> list[str]:
    if targets.literal_address(host) is not None:
        return [host]
    infos = await asyncio.wait_for(
        asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM), within
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_url(target: targets.Target, address: str) -> str:
    shown = f"[{address}]" if isinstance(ipaddress.ip_address(address), ipaddress.IPv6Address) else address
    return f"{target.scheme}://{shown}:{target.port}{target.path}"


def host_header(target: targets.Target) -> str:
    default = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default else f"{host}:{target.port}"


async def attempt(
    http: httpx.AsyncClient, config: WebhookConfig, url: str, delivery_id: str, body: bytes, number: int
) -> Outcome:
    started = time.monotonic()
    try:
        target = targets.parse(url)
        addresses = await resolve(target.host, target.port, config.timeout)
    except targets.RefusedTarget as exc:
        return Outcome(refused=str(exc))
    except (OSError, TimeoutError) as exc:
        return Outcome(error=f"cannot resolve the host: {exc or type(exc).__name__}")
    if not addresses:
        return Outcome(error=f"{target.host} resolves to no address")
    for address in addresses:
        why = targets.refusal(target.host, address, config.allow)
        if why is not None:
            return Outcome(refused=why)
    headers = {
        "Host": host_header(target),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.HEADER: signing.header(list(config.secrets), int(time.time()), body),
        signing.DELIVERY_HEADER: delivery_id,
        "Laneyard-Attempt": str(number),
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        response = await http.post(
            address_url(target, addresses[0]), content=body, headers=headers, extensions=extensions
        )
    except httpx.TimeoutException:
        return Outcome(error=f"no answer within {config.timeout:g}s", seconds=time.monotonic() - started)
    except httpx.HTTPError as exc:
        return Outcome(error=f"{type(exc).__name__}: {exc}"[:300], seconds=time.monotonic() - started)
    return Outcome(status=response.status_code, seconds=time.monotonic() - started)
