"""API keys and their scopes, from ``LANEYARD_API_KEYS="key1:submit,read;key2:admin"``.

Scopes: ``submit`` (submit and cancel jobs), ``read`` (jobs, logs, clusters, status, throttles) and
``admin`` (everything, plus clusters and throttles changes). With no key configured the API is
open, which start-up announces loudly. Keys are never logged.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from laneyard.services.admission.errors import Rejected

log = logging.getLogger(__name__)

SCOPES = frozenset({"submit", "read", "admin"})
bearer = HTTPBearer(auto_error=False, description="an API key from LANEYARD_API_KEYS")


def parse_api_keys(text: str) -> dict[str, frozenset[str]]:
    keys: dict[str, frozenset[str]] = {}
    for number, entry in enumerate(text.split(";"), start=1):
        entry = entry.strip()
        if not entry:
            continue
        key, _, scope_text = entry.rpartition(":")
        scopes = frozenset(s.strip() for s in scope_text.split(",") if s.strip())
        # The message names the entry's position, never the key itself.
        if not key.strip():
            raise ValueError(f"API key entry {number} has no key: expected key:scope,scope")
        if not scopes or not scopes <= SCOPES:
            raise ValueError(f"API key entry {number} has scopes {sorted(scopes)}; allowed: {sorted(SCOPES)}")
        keys[key.strip()] = scopes
    return keys


class Auth:
    def __init__(self, keys: dict[str, frozenset[str]]) -> None:
        self._keys = [(k.encode(), scopes) for k, scopes in keys.items()]

    @property
    def open(self) -> bool:
        return not self._keys

    def warn_if_open(self) -> None:
        if self.open:
            log.warning(
                "NO API KEYS ARE CONFIGURED: the admission API is OPEN to anyone who can reach it; "
                "set LANEYARD_API_KEYS to require keys"
            )

    def scopes_of(self, presented: str) -> frozenset[str] | None:
        found: frozenset[str] | None = None
        given = presented.encode()
        for key, scopes in self._keys:
            # Every key is compared in constant time, so timing does not reveal how much of one matched.
            if hmac.compare_digest(key, given):
                found = scopes
        return found

    def require(self, scope: str) -> Callable[..., Awaitable[None]]:
        async def check(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008
            if self.open:
                return
            challenge = {"WWW-Authenticate": "Bearer"}
            if creds is None:
                raise Rejected(401, "an API key is required: send 'Authorization: Bearer <key>'", challenge)
            scopes = self.scopes_of(creds.credentials)
            if scopes is None:
                raise Rejected(401, "the API key is not valid", challenge)
            if "admin" not in scopes and scope not in scopes:
                raise Rejected(403, f"this API key does not have the {scope!r} scope")

        return check
