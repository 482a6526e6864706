"""The RabbitMQ permissions each service's broker user needs, as (configure, write, read) regexes.

RabbitMQ checks them per operation on a resource's name (exchanges and queues alike):
declaring needs configure on what is declared, and a queue declared with a dead-letter exchange
also needs read on the queue and write on that exchange; binding a queue needs write on the
queue and read on the exchange; publishing needs write on the exchange; consuming and
``basic.get`` need read on the queue. Passive declares need nothing.

Every regex is anchored as a whole and names are escaped, so a runner of cluster ``a`` may read
``<prefix>.cluster.a`` and not ``<prefix>.cluster.ab``. A runner may configure nothing shared
(``roles.py``), so it cannot delete or re-bind what others use; it may publish where re-queued
jobs, sub-tasks, dead letters, capacity reports and lane notices go, never to the submit exchange.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from laneyard.shared.amqp.roles import Role

NOTHING = "^$"

# Names after "<prefix>.", as shared/amqp/topology.py and shared/throttling/intake.py make them
# (a unit test holds them together). Exchanges first; a queue named like its exchange shares it.
SUBMIT = "submit"  # the submit exchange, and admission's queue on it
LANES = "lanes"
CLUSTERS = "clusters"
DELAY = "delay"
DEAD = "dead"  # the dead-letter exchange, and the queue keeping what it gets
CAPACITY = "capacity"
CONTROL = "control"
INTAKE = "intake"
PARKED = "ckey"  # the park exchange of concurrency keys
LANE_QUEUES = r"lane\..+"
CLUSTER_QUEUES = r"cluster\..+"
DELAY_QUEUES = r"delay\.[0-9]+"
INTAKE_QUEUES = r"intake\..+"
PARK_QUEUES = r"ckey\.[0-9a-f]+"
# The exclusive queue each process listens on (capacity reports, control messages): no other
# connection may use it, so the right to declare these lets a runner take nothing from anyone.
LISTENER_QUEUES = r"listener\..+"


def escape(name: str) -> str:
    """``name`` as a regex matching it; a hyphen, plain outside brackets, is left as it is."""
    return re.escape(name).replace("\\-", "-")


def cluster_queue(cluster: str) -> str:
    return r"cluster\." + escape(cluster)


@dataclass(frozen=True)
class Permissions:
    configure: str
    write: str
    read: str


def names(prefix: str, *under_prefix: str) -> str:
    """A regex matching exactly the names ``<prefix>.<one of under_prefix>`` (regexes)."""
    if not under_prefix:
        return NOTHING
    if len(under_prefix) == 1:
        return rf"^{escape(prefix)}\.{under_prefix[0]}$"
    return rf"^{escape(prefix)}\.(?:{'|'.join(under_prefix)})$"


def admission(prefix: str) -> Permissions:
    declared = (SUBMIT, LANES, DEAD, CONTROL, INTAKE, LANE_QUEUES, INTAKE_QUEUES)
    return Permissions(
        configure=names(prefix, *declared),
        write=names(prefix, *declared),
        read=names(prefix, SUBMIT, LANES, DEAD, INTAKE, INTAKE_QUEUES),
    )


def dispatcher(prefix: str) -> Permissions:
    published = (LANES, CLUSTERS, DELAY, DEAD, CONTROL, INTAKE, PARKED)
    queues = (LANE_QUEUES, CLUSTER_QUEUES, DELAY_QUEUES, INTAKE_QUEUES, LISTENER_QUEUES, PARK_QUEUES)
    return Permissions(
        configure=names(prefix, *published, CAPACITY, *queues),
        write=names(prefix, *published, *queues),
        # Never a cluster's queue (it only declares and binds them), nor the submit queue; park
        # queues, to move parked jobs back (basic.get).
        read=names(prefix, *published, CAPACITY, LANE_QUEUES, DELAY_QUEUES, LISTENER_QUEUES, PARK_QUEUES),
    )


def runner(prefix: str, cluster: str) -> Permissions:
    return Permissions(
        configure=names(prefix, LISTENER_QUEUES),
        write=names(prefix, LANES, DELAY, DEAD, CAPACITY, CONTROL, LISTENER_QUEUES),
        read=names(prefix, CONTROL, cluster_queue(cluster), LISTENER_QUEUES),
    )


def submitter(prefix: str) -> Permissions:
    """An application that submits jobs over AMQP (``laneyard.AmqpSubmitter``)."""
    return Permissions(configure=NOTHING, write=names(prefix, SUBMIT), read=NOTHING)


def of(role: Role, prefix: str, cluster: str = "default") -> Permissions:
    """A service's permissions; ``cluster`` is a runner's."""
    if role is Role.ADMISSION:
        return admission(prefix)
    if role is Role.DISPATCHER:
        return dispatcher(prefix)
    return runner(prefix, cluster)
