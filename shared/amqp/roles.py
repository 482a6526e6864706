"""Which fixed parts of the AMQP topology each service makes sure of at start, and whether it may
declare them.

Admission and the dispatcher declare what they use, idempotently, so either may start first. A
runner runs other people's code, so its broker user may configure nothing shared
(``shared/amqp/permissions.py``): it declares only the exclusive queue it listens on, and waits for
the dispatcher to declare what it publishes to, and its cluster's queue.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMISSION = "admission"
    DISPATCHER = "dispatcher"
    RUNNER = "runner"


class Part(StrEnum):
    SUBMIT = "submit"  # the submit exchange, admission's queue on it and the binding
    DEAD = "dead"  # the dead-letter exchange, its queue and the binding
    DELAYS = "delays"  # the delay exchange and one TTL queue per step of the ladder, bound to it
    LANES = "lanes"  # the lanes exchange (lane queues come and go with lanes)
    CLUSTERS = "clusters"  # the clusters exchange (cluster queues come with runners)
    CAPACITY = "capacity"  # the capacity-report exchange
    CONTROL = "control"  # the control exchange: cancel requests, new lanes
    PARKED = "parked"  # the exchange of concurrency keys' park queues (queues come with keys)


_AT_START: dict[Role, tuple[Part, ...]] = {
    Role.ADMISSION: (Part.SUBMIT, Part.DEAD, Part.LANES, Part.CONTROL),
    Role.DISPATCHER: (
        Part.DEAD,
        Part.DELAYS,
        Part.LANES,
        Part.CLUSTERS,
        Part.CAPACITY,
        Part.CONTROL,
        Part.PARKED,
    ),
    Role.RUNNER: (Part.DEAD, Part.DELAYS, Part.LANES, Part.CAPACITY, Part.CONTROL),
}


def at_start(role: Role) -> tuple[Part, ...]:
    """What the service needs before it takes work: declared by it, or (a runner) waited for."""
    return _AT_START[role]


def declares(role: Role) -> bool:
    """Whether the service declares exchanges and shared queues (or only checks they exist)."""
    return role is not Role.RUNNER
