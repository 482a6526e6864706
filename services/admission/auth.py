"""API keys and their scopes.

From ``LANEYARD_API_KEYS="key1:submit,read lanes=reports;key2:admin"``, and from
``LANEYARD_API_KEYS_FILE``, whose lines are ``sha256:<hex> submit,read [lanes=a,b] [clusters=c]``
(``#`` starts a comment): the file holds only hashes, so the configuration holds no usable secret.
``laneyard keys new`` prints a key and its line.

Scopes: ``submit`` (submit and cancel jobs, manage schedules), ``read`` (jobs, logs, clusters,
status, throttles, schedules, dead letters) and ``admin`` (everything, plus clusters, throttles and
replays). ``lanes=``/``clusters=`` limit a key to those (``services.admission.grants``). With no key
configured the API is open (and admission listens on loopback only). Keys are never logged; only
their SHA-256 digests are kept in memory.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from laneyard.services.admission.auth_failures import FailureLimiter
from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.grants import Grant, parse_grant
from laneyard.shared.metrics import admission as admission_metrics

log = logging.getLogger(__name__)

bearer = HTTPBearer(auto_error=False, description="an API key from LANEYARD_API_KEYS")


def parse_api_keys(text: str) -> dict[str, Grant]:
    keys: dict[str, Grant] = {}
    for number, entry in enumerate(text.split(";"), start=1):
        entry = entry.strip()
        if not entry:
            continue
        # The key ends at the last colon before the first space: a fairness key after it may
        # hold colons too ("k1:submit fairness=tenant:acme").
        head, _, rest = entry.partition(" ")
        key, _, scopes = head.rpartition(":")
        grant_text = f"{scopes} {rest}"
        # The message names the entry's position, never the key itself.
        if not key.strip():
            raise ValueError(f"API key entry {number} has no key: expected key:scope,scope")
        keys[key.strip()] = parse_grant(grant_text, f"API key entry {number}")
    return keys


_HASHED = re.compile(r"^sha256:([0-9a-f]{64})$")


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def parse_key_file(text: str) -> dict[bytes, Grant]:
    """``sha256:<hex> scope,scope [lanes=a,b] [clusters=c,d]`` lines; the digest -> its grant."""
    keys: dict[bytes, Grant] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        hashed, _, grant_text = line.partition(" ")
        found = _HASHED.match(hashed)
        if found is None:
            raise ValueError(f"API key file line {number}: expected 'sha256:<64 hex digits> scope,scope'")
        keys[bytes.fromhex(found.group(1))] = parse_grant(grant_text, f"API key file line {number}")
    return keys


def load_keys(api_keys: str, api_keys_file: str | None) -> dict[bytes, Grant]:
    """Every configured key as digest -> grant (read once, at start-up)."""
    keys = {digest(key): grant for key, grant in parse_api_keys(api_keys).items()}
    if api_keys_file:
        keys.update(parse_key_file(Path(api_keys_file).read_text()))
    return keys


def new_key(grant: Grant) -> tuple[str, str]:
    """A fresh key and the line of ``LANEYARD_API_KEYS_FILE`` that gives it ``grant``."""
    parse_grant(grant.describe(), "the new key")  # the same checks as when the line is read back
    key = f"ly_{secrets.token_urlsafe(32)}"
    return key, f"sha256:{digest(key).hex()} {grant.describe()}"


class Auth:
    def __init__(self, keys: dict[bytes, Grant], failures: FailureLimiter | None = None) -> None:
        self._keys = list(keys.items())
        self.failures = failures or FailureLimiter()

    @property
    def open(self) -> bool:
        return not self._keys

    def warn_if_open(self) -> None:
        if self.open:
            log.warning(
                "NO API KEYS ARE CONFIGURED: the admission API is OPEN to anyone who can reach it; "
                "set LANEYARD_API_KEYS or LANEYARD_API_KEYS_FILE to require keys"
            )

    def grant_of(self, presented: str) -> Grant | None:
        found: Grant | None = None
        given = digest(presented)
        for key, grant in self._keys:
            # Every key is compared in constant time, so timing does not reveal how much of one matched.
            if hmac.compare_digest(key, given):
                found = grant
        return found

    def require(self, scope: str) -> Callable[..., Awaitable[Grant]]:
        """A FastAPI dependency: the request's grant, once its key is known to hold ``scope``."""

        async def check(
            request: Request,
            creds: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
        ) -> Grant:
            if self.open:
                return Grant.everything()
            address = request.client.host if request.client is not None else "unknown"
            grant = self.authenticate(address, creds.credentials if creds is not None else None)
            if not grant.has(scope):
                admission_metrics.AUTH_FAILURES.labels("scope").inc()
                raise Rejected(403, f"this API key does not have the {scope!r} scope")
            return grant

        return check

    def authenticate(self, address: str, presented: str | None) -> Grant:
        """The grant of a presented key (a bearer token, or a key typed into the console's login),
        with failed attempts from one address limited as for every other route."""
        now = time.monotonic()
        wait = self.failures.blocked_for(address, now)
        if wait > 0:
            admission_metrics.AUTH_FAILURES.labels("rate_limited").inc()
            raise Rejected(
                429,
                f"too many failed authentications from this address; retry in {wait:.0f} s",
                {"Retry-After": str(max(1, round(wait)))},
            )
        challenge = {"WWW-Authenticate": "Bearer"}
        if presented is None:
            self._failed(address, now, "missing")
            raise Rejected(401, "an API key is required: send 'Authorization: Bearer <key>'", challenge)
        grant = self.grant_of(presented)
        if grant is None:
            self._failed(address, now, "invalid")
            raise Rejected(401, "the API key is not valid", challenge)
        return grant

    def digests(self) -> list[tuple[bytes, Grant]]:
        """Every configured key's SHA-256 digest and grant (the console names a session's key by a
        keyed hash of its digest, so that the cookie holds neither the key nor its digest)."""
        return list(self._keys)

    def _failed(self, address: str, now: float, reason: str) -> None:
        self.failures.failed(address, now)
        admission_metrics.AUTH_FAILURES.labels(reason).inc()
        # The address, never the key.
        log.info("failed authentication (%s) from %s", reason, address)
