"""The runner's message handling: WAITING -> RUNNING, ack, run, then COMPLETED | ERROR | retry.

A job's message is acked as soon as its RUNNING claim is recorded: from then on the job's safety
rests in the database, not in an open delivery, so a job may run for hours whatever the broker's
``consumer_timeout``, and no delivery pins a quorum queue's log. A runner that dies mid-task
stops heartbeating, and the dispatcher holding the lease re-queues its jobs or ends them
(services/dispatcher/reaper.py). Every state change names the runner and attempt it expects, so a
job is never finished twice, and a copy of a job that is already RUNNING is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from pydantic import ValidationError

from laneyard.services.runner import failures
from laneyard.services.runner.attempt import retry_delay, run_attempt
from laneyard.services.runner.outcome import Outcome
from laneyard.services.runner.registry import Registry
from laneyard.services.runner.reporter import Ledger
from laneyard.services.runner.subtasks import Spawner
from laneyard.shared import lifecycle
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.ids import new_process_id
from laneyard.shared.metrics import runner as runner_metrics
from laneyard.shared.metrics import states as state_metrics
from laneyard.shared.models import JobMessage
from laneyard.shared.reasons import Reason
from laneyard.shared.settings import Settings
from laneyard.shared.states import JobState
from laneyard.shared.store import dead_letters
from laneyard.shared.store.database import Database
from laneyard.shared.store.job_writes import JobWrites

log = logging.getLogger(__name__)

# How long a delivered job waits for room on a full runner before it goes back to its lane.
ROOM_WAIT_SECONDS = 3.0


@dataclass
class Active:
    job: JobMessage
    attempt: int
    task: asyncio.Task[object] | None = None
    cancel_requested: bool = False  # set before its task is cancelled on request (not at shutdown)
    # Its outcome is known and being recorded: a cancel request now would interrupt the recording
    # and leave the job RUNNING under a live runner, so it is ignored.
    finishing: bool = False


class Worker:
    def __init__(self, settings: Settings, bus: Bus, db: Database, registry: Registry) -> None:
        self.settings = settings
        self.bus = bus
        self.db = db
        self.registry = registry
        self.id = new_process_id()
        self.ledger = Ledger(
            self.id,
            settings.runner_cluster,
            settings.runner_cpu_millicores,
            settings.runner_memory_mib,
            settings.runner_slots,
            registry.names(),
        )
        self.spawner = Spawner(settings, bus, db)
        self.writes = JobWrites(db, timeout=settings.network_timeout)
        self.pool = ThreadPoolExecutor(max_workers=settings.runner_slots, thread_name_prefix="task")
        self.active: dict[str, Active] = {}
        # Jobs being marked RUNNING -> whether a cancel request came meanwhile (it cannot find
        # them in ``active`` yet, and admission asks only once the job is RUNNING).
        self.starting: dict[str, bool] = {}
        self.attempts: dict[str, int] = {}  # the attempt of each job running here
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._idle = asyncio.Event()
        self._room = asyncio.Condition()  # notified whenever a job ends here

    async def start(self) -> None:
        cluster = self.settings.runner_cluster
        if not self.bus.declares:
            await self.bus.await_declared(
                [],
                [self.bus.names.cluster_queue(cluster)],
                declared_by="a dispatcher declares a cluster's queue when it hears from one of its runners",
            )
        _, topology = await self.bus.consumer_channel(self.settings.runner_slots)
        self._queue = await topology.cluster_queue(cluster)
        self._tag = await self._queue.consume(self.on_message)

    async def stop_consuming(self) -> None:
        self.ledger.draining = True
        self.ledger.changed.set()
        tag, self._tag = self._tag, None
        if tag is not None and self._queue is not None:
            await self._queue.cancel(tag)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            await self._handle(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            if message.processed:
                # Acked once its job was RUNNING: the reaper recovers a job left so.
                log.exception("running a job failed midway", extra={"job_id": message.message_id})
                return
            log.exception("handling a job message failed; requeued", extra={"job_id": message.message_id})
            await asyncio.sleep(0.5)
            await message.nack(requeue=True)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        try:
            job = JobMessage.model_validate_json(message.body)
        except ValidationError as exc:
            await self._dead_letter(message, None, f"undecodable job message: {exc.errors()[:3]}")
            return
        self.ledger.see(job.id)
        if job.id in self.ledger.running:
            if job.attempt > self.attempts.get(job.id, job.attempt):
                # A later attempt of a job whose earlier one still runs here: the reaper gave that
                # one up (this runner's heartbeats were missed). The later attempt must not be
                # dropped as a copy, or its job would stay WAITING with no message: it goes back
                # through its lane, for a runner with room (or this one, once the old one is done).
                await self._send_back(job, message)
                return
            # A copy of a job running here (a redelivery, a duplicate forward): this runner has it.
            await message.ack()
            return
        if self.ledger.draining:
            await message.nack(requeue=True)
            return
        unregistered = self.registry.get(job.task) is None
        if unregistered or not await self._room_for(job):
            if not await self._still_waiting(job):
                # A copy of a job that has moved on (running elsewhere, ended): whoever holds it
                # has it, and the reaper covers a lost holder. Nothing to send back or dead-letter.
                await message.ack()
            elif unregistered:
                await self._dead_letter(
                    message, job, f"task {job.task!r} is not registered on runner {self.id}"
                )
            else:
                await self._send_back(job, message)
            return

        self.ledger.start(job.id, job.tier, job.lane, job.slots)  # before any await: atomic reservation
        self.attempts[job.id] = job.attempt
        self.starting[job.id] = False
        try:
            try:
                started = await self._claim(job)
            finally:
                cancel_early = self.starting.pop(job.id, False)
            # From here the job's safety is in the database; a copy that found it no longer WAITING
            # (running elsewhere, ended) is dropped the same way.
            await self._ack(message, job)
            if not started:
                return
            await self._execute(job, cancel_early, message.headers)
        finally:
            self.ledger.finish(job.id)
            self.attempts.pop(job.id, None)
            async with self._room:
                self._room.notify_all()

    async def _room_for(self, job: JobMessage) -> bool:
        """Whether the job fits here, waiting a little for room to free up. A running job's message
        is acked, so the broker keeps delivering while every slot is taken; held unacked for a
        moment (at most ``slots`` such messages, the prefetch), the next job starts where the last
        ended, in the order the dispatcher sent them, instead of a round trip through the lane."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ROOM_WAIT_SECONDS
        async with self._room:
            while not self.ledger.fits(job.tier, job.slots):
                left = deadline - loop.time()
                if left <= 0 or self.ledger.draining:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), left)
        return True

    async def _claim(self, job: JobMessage) -> bool:
        """WAITING -> RUNNING under this runner: the one write that makes it this runner's job."""
        return await lifecycle.start(self.writes, job, self.id)

    async def _still_waiting(self, job: JobMessage) -> bool:
        """Whether the job is WAITING in the attempt its message carries (the dispatcher's forward is
        written before it is published, so a fresh message always finds it so)."""
        doc = await self.db["jobs"].find_one({"_id": job.id}, projection={"state": True, "attempt": True})
        return doc is not None and doc["state"] == JobState.WAITING and doc.get("attempt") == job.attempt

    async def _ack(self, message: AbstractIncomingMessage, job: JobMessage) -> None:
        try:
            await message.ack()
        except Exception:
            # The channel went away: the broker redelivers the message, and whoever gets it finds
            # the job RUNNING and drops it. The job runs here all the same.
            log.warning("acking a started job's message failed", extra={"job_id": job.id}, exc_info=True)

    async def _execute(self, job: JobMessage, cancel_early: bool, headers: dict[str, Any] | None) -> None:
        attempt = job.attempt
        state_metrics.observe_waiting(job.cluster, headers)
        active = Active(job, attempt, asyncio.current_task())
        self.active[job.id] = active
        self._idle.clear()
        runner_metrics.TASKS_RUNNING.labels(job.task).inc()
        t0 = time.perf_counter()
        try:
            try:
                outcome = _cancelled() if cancel_early else await self._run(job, attempt)
            except asyncio.CancelledError:
                if not active.cancel_requested:
                    raise  # shutdown: drain() requeues it
                asyncio.current_task().uncancel()  # type: ignore[union-attr]
                outcome = _cancelled()
            active.finishing = True
            runner_metrics.finished(job, attempt, outcome.state, outcome.reason, time.perf_counter() - t0)
            await self._finish(job, attempt, outcome)
        finally:
            self.active.pop(job.id, None)
            runner_metrics.TASKS_RUNNING.labels(job.task).dec()
            if not self.active:
                self._idle.set()

    async def _run(self, job: JobMessage, attempt: int) -> Outcome:
        task = self.registry.get(job.task)
        assert task is not None
        return await run_attempt(
            task, job, attempt, self.db, self.settings, self.id, self.spawner.for_job(job, attempt), self.pool
        )

    async def _finish(self, job: JobMessage, attempt: int, outcome: Outcome) -> None:
        if outcome.state is JobState.ERROR and attempt <= job.max_retries:
            await lifecycle.requeue(
                self.db, self.bus, job, attempt=attempt, next_attempt=attempt + 1, holder=self.id,
                delay_ms=retry_delay(job.retry_backoff, attempt) * 1000,
                fields={"error": outcome.error, "reason": outcome.reason,
                        f"timeline.{attempt}.{JobState.ERROR}": time.time()},
            )  # fmt: skip
            return
        if outcome.state is JobState.COMPLETED and outcome.subtasks:
            # The slot is freed now; the last child to end completes the job.
            await lifecycle.await_subtasks(self.db, job.id, attempt, self.id, outcome.result)
            return
        fields = {"result": outcome.result, "error": outcome.error, "reason": outcome.reason}
        failure = None
        if outcome.state is JobState.ERROR:
            failure = await failures.record(
                self.db, job, attempt, outcome, keep_days=self.settings.dead_letter_retention_days
            )
            fields["dead_letter"] = failure.dead_id
        moved = await lifecycle.finish(self.db, self.writes, job, attempt, self.id, outcome.state, fields)
        if failure is not None:
            await failures.settle(self.bus, self.db, job, failure, failed=moved)

    async def _send_back(self, job: JobMessage, message: AbstractIncomingMessage) -> None:
        """No room here after all: back to the lane, where the dispatcher will place it again. A
        crash between the publish and the write leaves a WAITING job with a lane message, which the
        dispatcher forwards again."""
        runner_metrics.JOBS_SENT_BACK.labels(job.cluster).inc()
        await self.bus.delayed(job, self.settings.delay_min_ms)
        await lifecycle.send_back(self.db, job)
        await message.ack()

    async def _dead_letter(
        self, message: AbstractIncomingMessage, job: JobMessage | None, reason: str
    ) -> None:
        job_id = job.id if job else None
        dead_id = await dead_letters.record(
            self.db, source="runner", reason=reason, body=message.body, job_id=job_id,
            keep_days=self.settings.dead_letter_retention_days,
        )  # fmt: skip
        await self.bus.dead_letter(message.body, reason, headers={"x-laneyard-dead-id": dead_id})
        if job is not None:
            await lifecycle.dead_letter(self.db, job, reason, dead_id)
        await message.ack()
        runner_metrics.TASKS_DEAD_LETTERED.labels(job.task if job else "").inc()
        log.warning("dead-lettered: %s", reason, extra={"job_id": job_id})

    def cancel(self, job_id: str) -> bool:
        """Stops the job if it runs here (a cancel request); True if it did."""
        if job_id in self.starting:
            self.starting[job_id] = True  # it is not run once marked RUNNING; CANCELLED instead
            log.info("cancelling on request as it starts", extra={"job_id": job_id})
            return True
        active = self.active.get(job_id)
        if active is None or active.task is None or active.cancel_requested or active.finishing:
            return False
        active.cancel_requested = True
        active.task.cancel()
        log.info("cancelling on request", extra={"job_id": job_id})
        return True

    async def drain(self, grace: float) -> None:
        """Stop taking work, let running tasks finish for ``grace`` seconds, requeue the rest."""
        await self.stop_consuming()
        if self.active:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace)
        for active in list(self.active.values()):
            if active.finishing:
                continue  # its outcome is being recorded: requeueing it now would run it again
            if active.task is not None:
                active.task.cancel()
            await self._requeue(active)
        if self.active:  # outcomes being recorded, so that their messages are acked
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), self.settings.network_timeout)
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def _requeue(self, active: Active) -> None:
        job = active.job
        try:
            await lifecycle.requeue(
                self.db, self.bus, job, attempt=active.attempt, next_attempt=active.attempt, holder=self.id
            )
            log.info("requeued at shutdown", extra={"job_id": job.id})
        except Exception:
            log.exception("requeue at shutdown failed; the reaper will recover it", extra={"job_id": job.id})


def _cancelled() -> Outcome:
    return Outcome(JobState.CANCELLED, error="cancelled on request", reason=Reason.CANCELLED_ON_REQUEST)


def describe(worker: Worker) -> str:
    return json.dumps(
        {"runner": worker.id, "cluster": worker.settings.runner_cluster, "tasks": worker.registry.names()}
    )
