"""The broker users' permission regexes: each service may do what it does, and no more."""

from __future__ import annotations

import re

import pytest

from laneyard.shared.amqp import permissions, roles
from laneyard.shared.amqp.permissions import Permissions
from laneyard.shared.amqp.roles import Part, Role
from laneyard.shared.amqp.topology import Names, Topology, delay_ladder
from laneyard.shared.throttling import intake

P = "laneyard"
N = Names(P)
LADDER = delay_ladder(500, 30_000)
LISTENER = N.listener_queue("5f0c2b")
INTAKE = intake.exchange_name(N)


def allows(regex: str, name: str) -> bool:
    return re.search(regex, name) is not None  # as RabbitMQ matches them (re:run, unanchored)


def check(perms: Permissions, configure: list[str], write: list[str], read: list[str]) -> None:
    for kind, names in (("configure", configure), ("write", write), ("read", read)):
        regex = getattr(perms, kind)
        refused = [name for name in names if not allows(regex, name)]
        assert not refused, f"{kind} {regex} refuses {refused}"


def test_admission_may_do_what_it_does() -> None:
    lane, held = N.lane_queue("main", "gpu-1"), intake.queue_name(N, "bulk", "default")
    keyed = intake.queue_name(N, "bulk", "default", "api:stripe@eu")  # a rated job key's intake
    check(
        permissions.admission(P),
        # Declares the submit exchange and queue, the dead-letter exchange and queue, lanes,
        # control and intake exchanges, lane and intake queues.
        configure=[N.submit_exchange, N.submit_queue, N.dead_exchange, N.dead_queue, N.lanes_exchange,
                   N.control_exchange, INTAKE, lane, held, keyed],
        # Publishes to lanes, intake, control and dead; binds its queues; the submit queue's
        # dead-letter exchange.
        write=[N.lanes_exchange, INTAKE, N.control_exchange, N.dead_exchange, N.submit_queue, N.dead_queue,
               lane, held, keyed],
        # Consumes submissions, takes from intake queues, binds to submit, dead, lanes, intake.
        read=[N.submit_queue, held, keyed, N.submit_exchange, N.dead_exchange, N.lanes_exchange, INTAKE],
    )  # fmt: skip


def test_dispatcher_may_do_what_it_does() -> None:
    lane, cluster, delays = (
        N.lane_queue("main", "gpu-1"),
        N.cluster_queue("gpu-1"),
        [N.delay_queue(ms) for ms in LADDER],
    )
    held = intake.queue_name(N, "bulk", "default")
    exchanges = [
        N.lanes_exchange,
        N.clusters_exchange,
        N.delay_exchange,
        N.dead_exchange,
        N.capacity_exchange,
        N.control_exchange,
        INTAKE,
        N.park_exchange,
    ]
    parked = N.park_queue("db:reports@eu")  # a concurrency key's park queue
    check(
        permissions.dispatcher(P),
        configure=[*exchanges, N.dead_queue, *delays, lane, cluster, held, LISTENER, parked],
        # Forwards, delays, re-queues, dead-letters, admits scheduled jobs, parks jobs; binds its
        # queues; the delay queues' dead-letter exchange is the lanes exchange.
        write=[N.clusters_exchange, N.delay_exchange, N.lanes_exchange, N.dead_exchange, N.control_exchange,
               INTAKE, N.park_exchange, N.dead_queue, *delays, lane, cluster, held, LISTENER, parked],
        # Takes parked jobs back (basic.get).
        read=[*exchanges, lane, *delays, LISTENER, parked],
    )  # fmt: skip


def test_runner_may_do_what_it_does() -> None:
    check(
        permissions.runner(P, "gpu-1"),
        configure=[LISTENER],
        # Re-queues (lanes, delay), dead-letters, reports capacity, announces sub-tasks' lanes.
        write=[N.lanes_exchange, N.delay_exchange, N.dead_exchange, N.capacity_exchange, N.control_exchange,
               LISTENER],
        read=[N.cluster_queue("gpu-1"), N.control_exchange, LISTENER],
    )  # fmt: skip


def test_a_runner_cannot_submit_nor_configure_anything_shared() -> None:
    runner = permissions.runner(P, "default")
    assert not allows(runner.write, N.submit_exchange)
    shared = [N.submit_exchange, N.lanes_exchange, N.clusters_exchange, N.delay_exchange, N.dead_exchange,
              N.capacity_exchange, N.control_exchange, N.lane_queue("main", "default"),
              N.cluster_queue("default")]  # fmt: skip
    assert not [name for name in shared if allows(runner.configure, name)]
    # Nor take jobs waiting for a concurrency slot (admission neither).
    parked = N.park_queue("db:reports")
    assert not allows(runner.read, parked) and not allows(permissions.admission(P).read, parked)


@pytest.mark.parametrize("other", ["ab", "a-b", "a.b", "b", "xa", "a2"])
def test_a_runner_reads_its_own_clusters_queue_only(other: str) -> None:
    runner = permissions.runner(P, "a")
    assert allows(runner.read, N.cluster_queue("a"))
    assert not allows(runner.read, N.cluster_queue(other))
    # Nor may it bind a queue of its own to where jobs go: it cannot read those exchanges.
    assert not allows(runner.read, N.clusters_exchange) and not allows(runner.read, N.lanes_exchange)
    assert not allows(runner.read, N.lane_queue("main", "a")) and not allows(runner.read, N.submit_queue)


def test_core_services_read_only_their_own_queues() -> None:
    dispatcher, admission = permissions.dispatcher(P), permissions.admission(P)
    assert not allows(dispatcher.read, N.submit_queue) and not allows(dispatcher.read, N.cluster_queue("a"))
    assert not allows(admission.read, N.lane_queue("main", "a")) and not allows(
        admission.read, N.cluster_queue("a")
    )


def test_another_prefix_is_out_of_reach() -> None:
    other = Names("laneyard2")
    for perms in (permissions.admission(P), permissions.dispatcher(P), permissions.runner(P, "default")):
        for regex in (perms.configure, perms.write, perms.read):
            assert not allows(regex, other.lanes_exchange) and not allows(
                regex, other.cluster_queue("default")
            )


def test_names_are_escaped() -> None:
    runner = permissions.runner("a.b", "c.d")
    assert allows(runner.read, "a.b.cluster.c.d")
    assert not allows(runner.read, "aXb.cluster.c.d") and not allows(runner.read, "a.b.cluster.cXd")
    hyphens = permissions.runner("lane-yard", "gpu-1")
    assert allows(hyphens.read, "lane-yard.cluster.gpu-1") and not allows(
        hyphens.read, "lane-yard.cluster.gpu1"
    )


def test_a_submitter_only_publishes_to_the_submit_exchange() -> None:
    submitter = permissions.submitter(P)
    assert allows(submitter.write, N.submit_exchange) and not allows(submitter.write, N.lanes_exchange)
    assert not allows(submitter.configure, N.submit_exchange) and not allows(submitter.read, N.submit_queue)


def test_permissions_of_a_role() -> None:
    assert permissions.of(Role.ADMISSION, P) == permissions.admission(P)
    assert permissions.of(Role.DISPATCHER, P) == permissions.dispatcher(P)
    assert permissions.of(Role.RUNNER, P, "gpu-1") == permissions.runner(P, "gpu-1")


def test_what_a_runner_waits_for_a_dispatcher_declares() -> None:
    assert not roles.declares(Role.RUNNER)
    assert roles.declares(Role.ADMISSION) and roles.declares(Role.DISPATCHER)
    assert set(roles.at_start(Role.RUNNER)) <= set(roles.at_start(Role.DISPATCHER))
    # Admission never sends a job through the delays or to a cluster.
    assert Part.DELAYS not in roles.at_start(Role.ADMISSION) and Part.CLUSTERS not in roles.at_start(
        Role.ADMISSION
    )


def test_a_runner_waits_for_the_exchanges_and_the_queues_it_publishes_to() -> None:
    topology = Topology(None, Names("lx"), [100, 200])  # type: ignore[arg-type]  # names need no channel
    exchanges, queues = topology.names_of(roles.at_start(Role.RUNNER))
    assert sorted(exchanges) == ["lx.capacity", "lx.control", "lx.dead", "lx.delay", "lx.lanes"]
    assert sorted(queues) == ["lx.dead", "lx.delay.100", "lx.delay.200"]
    assert topology.names_of((Part.SUBMIT,)) == (["lx.submit"], ["lx.submit"])
