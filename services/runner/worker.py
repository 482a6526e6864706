"""The runner's message lifecycle: WAITING -> RUNNING -> COMPLETED | ERROR | retry, then ack.

A message is acked only after the job's outcome is recorded, so a runner that dies mid-task leaves
its messages to RabbitMQ, which redelivers them to another runner of the cluster. That runner takes
the job over once the dead one's heartbeats have lapsed; every state change names the runner and
attempt it expects, so a job is never finished twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from pydantic import ValidationError

from laneyard.services.runner import failures
from laneyard.services.runner.context import TaskContext
from laneyard.services.runner.execute import run_task
from laneyard.services.runner.job_logs import LogBuffer
from laneyard.services.runner.outcome import Outcome
from laneyard.services.runner.registry import Registry
from laneyard.services.runner.reporter import Ledger
from laneyard.services.runner.subtasks import Spawner
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.ids import new_process_id
from laneyard.shared.metrics import runner as runner_metrics
from laneyard.shared.metrics import states as state_metrics
from laneyard.shared.models import JobMessage
from laneyard.shared.settings import Settings
from laneyard.shared.states import JobState
from laneyard.shared.store import dead_letters, jobs, subtasks
from laneyard.shared.store import runners as runner_store
from laneyard.shared.store.database import Database
from laneyard.shared.store.job_writes import JobWrites

log = logging.getLogger(__name__)


@dataclass
class Active:
    job: JobMessage
    attempt: int
    message: AbstractIncomingMessage
    task: asyncio.Task[object] | None = None
    cancel_requested: bool = False  # set before its task is cancelled on request (not at shutdown)
    # Its outcome is known and being recorded: a cancel request now would interrupt the recording
    # and leave the message unacked (and the job RUNNING under a live runner), so it is ignored.
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
        self.runner_timeout = settings.heartbeat_seconds * settings.heartbeat_misses
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._idle = asyncio.Event()

    async def start(self) -> None:
        _, topology = await self.bus.consumer_channel(self.settings.runner_slots)
        self._queue = await topology.cluster_queue(self.settings.runner_cluster)
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
        task = self.registry.get(job.task)
        if task is None:
            if await self._kept_for_takeover(job, message):
                return
            reason = f"task {job.task!r} is not registered on runner {self.id}"
            await self._dead_letter(message, job, reason)
            return
        while job.id in self.ledger.running:  # noqa: ASYNC110 (see below)
            # Another copy of a job this runner is handling (a redelivery after a channel blip, a
            # re-forward). It stays unacked until that handling ends (bounded by the job's time
            # limit), so if this runner dies first the broker still has a copy for another one;
            # then it is handled as usual, which acks it if the job has ended meanwhile. Polled:
            # duplicates are rare, and an event per job would cost every job for their sake.
            await asyncio.sleep(0.5)
        if self.ledger.draining:
            await message.nack(requeue=True)
            return
        if not self.ledger.fits(job.tier):
            await self._send_back(job, message)
            return

        self.ledger.start(job.id, job.tier, job.lane)  # before any await: the reservation is atomic
        self.starting[job.id] = False
        try:
            try:
                attempt = await self._mark_running(job, message.redelivered)
            finally:
                cancel_early = self.starting.pop(job.id, False)
            if attempt is None:
                await message.ack()
                return
            state_metrics.observe_waiting(job.cluster, message.headers)
            active = Active(job, attempt, message, asyncio.current_task())
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
            await message.ack()
        finally:
            self.ledger.finish(job.id)

    async def _mark_running(self, job: JobMessage, redelivered: bool | None) -> int | None:
        """WAITING -> RUNNING, or a takeover from a lost runner; the attempt to run, or None."""
        fields = {"runner": self.id}
        if await self.writes.transition(
            job.id, sources={JobState.WAITING}, target=JobState.RUNNING,
            attempt=job.attempt, where={"attempt": job.attempt}, fields=fields,
        ):  # fmt: skip
            return job.attempt
        deadline = time.monotonic() + self.runner_timeout + self.settings.heartbeat_seconds
        while True:
            doc = await jobs.get(self.db, job.id)
            if doc is None or doc["state"] != JobState.RUNNING or doc.get("awaiting_subtasks"):
                return None  # finished, cancelled, or waiting for its sub-tasks
            holder, attempt = str(doc.get("runner")), int(doc.get("attempt") or job.attempt)
            if attempt < job.attempt:
                return None
            # A later attempt is not stale: a runner that took the job over runs it with the
            # message it was given (the first attempt's), and if that runner is lost too, this
            # copy is all that is left of the job. The takeover's filter on holder and attempt
            # keeps it single.
            if doc.get("cancel_requested_at") is not None:
                self.starting[job.id] = True  # asked while its runner was gone, or just now
            max_retries = int(doc.get("max_retries") or 0)
            if holder == self.id:
                # Redelivered to us while we do not run it: our own handling of it failed midway
                # (the broker went away, say). Dropping this copy would leave it RUNNING forever.
                return (
                    None
                    if job.id in self.active
                    else await self._take_over(job, holder, attempt, max_retries)
                )
            since = float(doc["timeline"].get(str(attempt), {}).get("RUNNING", 0.0))
            held = await runner_store.holds(self.db, holder, job.id, self.runner_timeout, since)
            if held is None and not await runner_store.is_alive(self.db, holder, self.runner_timeout):
                return await self._take_over(job, holder, attempt, max_retries)
            if held is False:
                # Alive, but it reported after the job started without listing it: it lost it.
                return await self._take_over(job, holder, attempt, max_retries)
            if time.monotonic() > deadline:
                return None  # the holder is alive and runs it: this copy is a duplicate
            await asyncio.sleep(self.settings.heartbeat_seconds / 2)

    async def _take_over(self, job: JobMessage, holder: str, attempt: int, max_retries: int) -> int | None:
        where = {"runner": holder, "attempt": attempt}
        if self.starting.get(job.id):
            await jobs.transition(
                self.db, job.id, sources={JobState.RUNNING}, target=JobState.CANCELLED, attempt=attempt,
                where=where, fields={"reason": "cancelled on request", "error": "cancelled on request"},
            )  # fmt: skip
            log.info("cancelled on request; its runner %s was lost", holder, extra={"job_id": job.id})
            return None
        if attempt > max_retries:
            await jobs.transition(
                self.db, job.id, sources={JobState.RUNNING}, target=JobState.ERROR, attempt=attempt,
                where=where, fields={"reason": "runner lost", "error": f"runner {holder} was lost mid-task"},
            )  # fmt: skip
            runner_metrics.TASKS_FAILED.labels(job.task, "runner_lost").inc()
            log.warning("runner %s was lost; no retries left", holder, extra={"job_id": job.id})
            return None
        moved = await jobs.transition(
            self.db, job.id, sources={JobState.RUNNING}, target=JobState.RUNNING, attempt=attempt + 1,
            where=where, fields={"runner": self.id, "lost_runner": holder},
        )  # fmt: skip
        if moved is None:
            return None
        log.warning("took over from lost runner %s", holder, extra={"job_id": job.id})
        return attempt + 1

    async def _run(self, job: JobMessage, attempt: int) -> Outcome:
        task = self.registry.get(job.task)
        assert task is not None
        buffer = LogBuffer(
            self.db, job.id, attempt, self.settings.runner_log_batch_lines, self.settings.runner_log_max_lines
        )
        ctx = TaskContext(
            job.id, attempt, self.id, job.cluster, buffer, self.spawner.for_job(job, attempt),
            schedule_id=job.schedule_id, last_completed_at=TaskContext.utc(job.last_completed_at),
        )  # fmt: skip
        buffer.start()
        try:
            outcome = await run_task(
                task,
                ctx,
                job.args,
                job.max_execution_time,
                self.pool,
                job.tier,
                self.settings.kill_grace_seconds,
            )
        finally:
            await buffer.close()
        outcome.subtasks = ctx.subtasks
        return outcome

    async def _finish(self, job: JobMessage, attempt: int, outcome: Outcome) -> None:
        where = {"runner": self.id, "attempt": attempt}
        if outcome.state is JobState.ERROR and attempt <= job.max_retries:
            delay = job.retry_backoff * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)
            retry = job.model_copy(update={"attempt": attempt + 1})
            # Publish before recording: if we die in between, the job is not lost, only retried.
            await self.bus.delayed(retry, delay * 1000)
            await jobs.transition(
                self.db, job.id, sources={JobState.RUNNING}, target=JobState.IN_QUEUE, attempt=attempt + 1,
                where=where, fields={"error": outcome.error, "reason": outcome.reason, "runner": None,
                                     f"timeline.{attempt}.{JobState.ERROR}": time.time()},
            )  # fmt: skip
            return
        if outcome.state is JobState.COMPLETED and outcome.subtasks:
            # The slot is freed now; the last child to end completes the job (shared.store.subtasks).
            await subtasks.await_children(self.db, job.id, attempt, self.id, outcome.result, jobs.transition)
            return
        fields = {"result": outcome.result, "error": outcome.error, "reason": outcome.reason}
        failure = None
        if outcome.state is JobState.ERROR:
            failure = await failures.record(self.db, job, attempt, outcome)
            fields["dead_letter"] = failure.dead_id
        if job.parent_id is None:
            moved = await self.writes.transition(
                job.id, sources={JobState.RUNNING}, target=outcome.state, attempt=attempt,
                where=where, fields=fields,
            )  # fmt: skip
        else:  # a sub-task's end goes through transition(), which may finish its parent
            done = await jobs.transition(
                self.db, job.id, sources={JobState.RUNNING}, target=outcome.state, attempt=attempt,
                where=where, fields=fields,
            )  # fmt: skip
            moved = done is not None
        if failure is not None:
            await failures.settle(self.bus, self.db, job, failure, failed=moved)

    async def _send_back(self, job: JobMessage, message: AbstractIncomingMessage) -> None:
        """No room here after all: back to the lane, where the dispatcher will place it again."""
        if await self._kept_for_takeover(job, message):
            return
        runner_metrics.JOBS_SENT_BACK.labels(job.cluster).inc()
        await self.bus.delayed(job, self.settings.delay_min_ms)
        await jobs.transition(
            self.db, job.id, sources={JobState.WAITING}, target=JobState.IN_QUEUE,
            attempt=job.attempt, where={"attempt": job.attempt},
        )  # fmt: skip
        await message.ack()

    async def _kept_for_takeover(self, job: JobMessage, message: AbstractIncomingMessage) -> bool:
        """Puts back a copy this runner cannot run of a job RUNNING elsewhere; True if it did.

        The job's runner may be lost, and then this copy is all that is left of it: sent back to
        the lane the dispatcher drops it as stale, dead-lettered it is gone, and the job stays
        RUNNING under a dead runner (the chaos run lost a job so). In the cluster queue it waits
        for a runner that can take it over."""
        doc = await jobs.get(self.db, job.id)
        if doc is None or doc["state"] != JobState.RUNNING or doc.get("awaiting_subtasks"):
            return False
        await asyncio.sleep(self.settings.heartbeat_seconds / 2)  # not a hot loop between runners
        await message.nack(requeue=True)
        return True

    async def _dead_letter(
        self, message: AbstractIncomingMessage, job: JobMessage | None, reason: str
    ) -> None:
        job_id = job.id if job else None
        dead_id = await dead_letters.record(
            self.db, source="runner", reason=reason, body=message.body, job_id=job_id
        )
        await self.bus.dead_letter(message.body, reason, headers={"x-laneyard-dead-id": dead_id})
        if job is not None:
            await jobs.transition(
                self.db, job.id, sources={JobState.IN_QUEUE, JobState.WAITING}, target=JobState.ERROR,
                attempt=job.attempt,
                fields={"reason": "dead-lettered", "error": reason, "dead_letter": dead_id},
            )  # fmt: skip
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
        job = active.job.model_copy(update={"attempt": active.attempt})
        try:
            await self.bus.to_lane(job)
            await jobs.transition(
                self.db, job.id, sources={JobState.RUNNING}, target=JobState.IN_QUEUE, attempt=active.attempt,
                where={"runner": self.id, "attempt": active.attempt}, fields={"runner": None},
            )  # fmt: skip
            await active.message.ack()
            log.info("requeued at shutdown", extra={"job_id": job.id})
        except Exception:
            log.exception("requeue at shutdown failed; the broker will redeliver", extra={"job_id": job.id})


def _cancelled() -> Outcome:
    return Outcome(JobState.CANCELLED, error="cancelled on request", reason="cancelled on request")


def describe(worker: Worker) -> str:
    return json.dumps(
        {"runner": worker.id, "cluster": worker.settings.runner_cluster, "tasks": worker.registry.names()}
    )
