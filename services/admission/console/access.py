"""What a key may do in the console, decided from its grant: pages hide what it may not do, and
every change is checked again on the server with the same rules."""

from __future__ import annotations

from dataclasses import dataclass

from laneyard.services.admission.grants import Grant


@dataclass(frozen=True)
class Permissions:
    read: bool  # every page
    submit: bool  # cancel, retry, pause/resume/delete schedules
    admin: bool  # replay dead letters, create/delete clusters, change rates


def permissions(grant: Grant) -> Permissions:
    return Permissions(read=grant.has("read"), submit=grant.has("submit"), admin=grant.has("admin"))


SCOPE_OF_ACTION = {
    "cancel": "submit",
    "retry": "submit",
    "schedule": "submit",
    "replay": "admin",
    "cluster": "admin",
    "rate": "admin",
}


def allowed(grant: Grant, action: str) -> bool:
    return grant.has(SCOPE_OF_ACTION[action])
