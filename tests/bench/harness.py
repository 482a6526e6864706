"""What the benchmarks share: a stack to measure, submitting over HTTP, waiting for jobs and reading
their stamps back through the public client, percentiles, and per-process RSS and CPU.

Everything but the throughput bursts' submissions goes through ``laneyard.client.AsyncClient``, as an
application would: latency runs, waiting, reading jobs, status. The bursts submit with the lean
client of ``http_load`` instead, which costs the shared two cores far less than httpx does.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from laneyard.client import AsyncClient, Job
from laneyard.errors import JobCancelled, JobFailed, JobNotFound, LaneyardError, Unavailable, WaitTimeout
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Doc
from laneyard.shared.views.jobs import JobView
from tests.bench.http_load import Connection
from tests.bench.wire_census import Census
from tests.support.stack import Service, Stack

T = TypeVar("T")

TERMINAL = ("COMPLETED", "ERROR", "CANCELLED")
CLK_TCK = os.sysconf("SC_CLK_TCK")

NOOP: dict[str, object] = {"task": "demo.noop", "tier": "TINY"}
SLEEP_10MS: dict[str, object] = {"task": "demo.sleep", "args": {"seconds": 0.01}, "tier": "TINY"}


def sizes(default: str = "1000,50000") -> list[int]:
    return [int(x) for x in os.environ.get("LANEYARD_BENCH_SIZES", default).split(",") if x.strip()]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Proc:
    """A process to watch: a service of the stack, or the embedded MongoDB-wire server."""

    name: str
    pid: int


def status_kib(pid: int, key: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def find_process(wanted: Callable[[list[bytes]], bool]) -> int | None:
    """The first process on this machine whose command line ``wanted`` accepts."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted(argv):
            return int(entry.name)
    return None


def rabbitmq_pid() -> int | None:
    """The local RabbitMQ node (its Erlang VM), when the broker runs on this machine."""
    return find_process(lambda argv: argv[0].endswith(b"beam.smp") and any(b"rabbit" in a for a in argv))


def embedded_mongo_pid(mongo_url: str) -> int | None:
    """The nx-27017 serving ``mongo_url`` when it runs on this machine (to profile and measure it)."""
    port = mongo_url.rstrip("/").rsplit(":", 1)[-1].split("/")[0].encode()

    def serves(argv: list[bytes]) -> bool:
        if not any(a.endswith(b"nx-27017") for a in argv) or b"--port" not in argv:
            return False
        at = argv.index(b"--port") + 1
        return at < len(argv) and argv[at] == port

    return find_process(serves)


@dataclass
class Bench:
    """One stack under measurement: one admission, one dispatcher and a runner with 128 slots
    (LANEYARD_BENCH_SLOTS) and 16 cores' worth of capacity to offer, so no-op jobs never wait for
    capacity that a real machine would not have."""

    stack: Stack
    services: list[Service]
    client: AsyncClient
    procs: list[Proc] = field(default_factory=list)
    census: Census | None = None

    async def close(self) -> None:
        await self.client.aclose()
        self.stack.stop()

    def watched(self) -> list[Proc]:
        live = [Proc(s.name, s.proc.pid) for s in self.services if s.proc is not None]
        # The submitting clients and the progress watcher share this process: it needs CPU too.
        return live + self.procs + [Proc("bench", os.getpid())]

    def rss_mib(self) -> dict[str, float]:
        return {p.name: status_kib(p.pid) / 1024 for p in self.watched()}

    def cpu(self) -> dict[str, float]:
        return {p.name: cpu_seconds(p.pid) for p in self.watched()}


async def start_bench(settings: Settings, tmp_path: Path) -> Bench:
    bench = settings.model_copy(update={"log_level": "WARNING", "heartbeat_seconds": 2.0})
    stack = Stack(bench, tmp_path)
    census = None
    if os.environ.get("LANEYARD_BENCH_CENSUS"):
        host, port = settings.mongo_url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        census = Census((host, int(port)))

    async def mongo(name: str) -> dict[str, str]:
        if census is None:
            return {}
        return {"LANEYARD_MONGO_URL": f"mongodb://127.0.0.1:{await census.listen(name)}/"}

    slots = os.environ.get("LANEYARD_BENCH_SLOTS", "128")
    services = [
        stack.add("admission", **await mongo("admission")),
        stack.add("dispatcher", **await mongo("dispatcher")),
        stack.add("runner", "--slots", slots, "--cpu", "16000", "--memory", "32768", **await mongo("runner")),
    ]
    b = Bench(stack, services, AsyncClient(stack.url), census=census)
    if (pid := embedded_mongo_pid(settings.mongo_url)) is not None:
        b.procs.append(Proc("nx-27017", pid))
    if (pid := rabbitmq_pid()) is not None:
        b.procs.append(Proc("rabbitmq", pid))
    try:
        await asyncio.to_thread(stack.wait_ready)
    except BaseException:
        await b.close()
        raise
    return b


async def submit_all(
    url: str,
    bodies: list[dict[str, object]],
    accepted: list[str] | None = None,
    clients: int = 32,
    batch: int = 1,
) -> tuple[list[str], float]:
    """Submits every body over HTTP with ``clients`` concurrent keep-alive connections, one job per
    request (``POST /v1/jobs``) or ``batch`` per request (``POST /v1/jobs/batch``). Ids are
    appended to ``accepted`` as they come back, so progress can be followed while submitting.

    The throughput workload only: this is ``http_load``'s lean client, not ``AsyncClient``, because
    httpx took 59% of a core at 176 requests/s and was itself the bottleneck of the measurement
    (docs/benchmarks.md). Every other submission of the benchmarks goes through ``AsyncClient``."""
    ids: list[str] = [""] * len(bodies)
    accepted = accepted if accepted is not None else []
    next_index = 0
    started = time.monotonic()

    async def client_loop() -> None:
        nonlocal next_index
        conn = Connection(url)
        try:
            while next_index < len(bodies):
                first = next_index
                next_index = min(len(bodies), first + batch)
                if batch == 1:
                    reply = await conn.post("/v1/jobs", bodies[first])
                    assert reply.status == 202, reply.body
                    got = [str(reply.json()["id"])]
                else:
                    reply = await conn.post("/v1/jobs/batch", {"jobs": bodies[first:next_index]})
                    assert reply.status == 202, reply.body
                    got = [str(r["id"]) for r in reply.json()["jobs"]]
                ids[first : first + len(got)] = got
                accepted.extend(got)
        finally:
            await conn.close()

    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return ids, time.monotonic() - started


async def submit_body(client: AsyncClient, body: Mapping[str, Any]) -> Job:
    """Submits one job given as its JSON body (``task``, ``args`` and the submission's options)."""
    options = {k: v for k, v in body.items() if k not in ("task", "args")}
    return await client.submit(str(body["task"]), body.get("args"), **options)


async def submit_paced(
    client: AsyncClient, bodies: list[dict[str, object]], rate: float, in_flight: int = 64
) -> tuple[list[str], float]:
    """Submits at ``rate`` per second on a schedule, each job on its own request, through the public
    client (for latency at a given load). Returns the ids and the rate the submissions were
    answered at: below ``rate`` when the client could not keep up with the schedule.

    httpx costs about 2 ms of CPU a request here (``http_load`` 0.05 ms), so near the machine's
    capacity it may fall behind: at most ``in_flight`` requests are then open (the rest wait their
    turn here rather than for a pooled connection, which times out), and ``sent /s`` shows it."""
    started = time.monotonic()
    pending: list[asyncio.Task[Job]] = []
    room = asyncio.Semaphore(in_flight)

    async def one(body: dict[str, object]) -> Job:
        async with room:
            return await submit_body(client, body)

    try:
        for i, body in enumerate(bodies):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(one(body)))
        jobs = await asyncio.gather(*pending)
    except BaseException:
        for task in pending:
            task.cancel()
        raise
    return [job.id for job in jobs], len(bodies) / max(1e-9, time.monotonic() - started)


async def on_any(
    clients: Sequence[AsyncClient], op: Callable[[AsyncClient], Awaitable[T]], first: int = 0
) -> T:
    """``op`` through ``clients[first]``; while the admission replica it reached stays
    ``Unavailable`` (after the client's own retries), through the next one."""
    for k in range(len(clients)):
        try:
            return await op(clients[(first + k) % len(clients)])
        except Unavailable:
            if k == len(clients) - 1:
                raise
    raise AssertionError("no clients")


async def ended(clients: Sequence[AsyncClient], job_id: str, deadline: float, first: int = 0) -> bool:
    """Waits for the job's end with ``Job.result``; False if it did not end by ``deadline`` (a
    monotonic time) or there is no such job. A failed or cancelled job has ended too."""

    async def result(client: AsyncClient) -> None:
        await client.job(job_id).result(timeout=max(0.01, deadline - time.monotonic()))

    while time.monotonic() < deadline:
        try:
            await on_any(clients, result, first)
        except (JobFailed, JobCancelled):
            return True
        except (WaitTimeout, JobNotFound):
            return False
        except Unavailable:
            await asyncio.sleep(1.0)  # every replica is down: they are restarted, try again
            continue
        return True
    return False


async def wait_last(clients: Sequence[AsyncClient], ids: list[str], deadline: float) -> bool:
    """Waits for the job submitted last. Jobs of one priority end about in submission order, so by
    then (nearly) all the others have ended too, and one job was polled instead of all of them."""
    return await ended(clients, ids[-1], deadline) if ids else True


async def read_views(clients: Sequence[AsyncClient], ids: list[str], first: int = 0) -> dict[str, JobView]:
    """The views of ``ids`` (those that exist), read from the job list 500 at a time, newest first:
    the jobs just submitted are the newest, so this takes about ``len(ids) / 500`` requests rather
    than one per job. Stops once all were seen, or 1,000 jobs after as many as were asked for."""
    wanted = set(ids)
    found: dict[str, JobView] = {}

    async def read(client: AsyncClient) -> None:
        seen = 0
        async with aclosing(client.list(page_size=500)) as views:
            async for view in views:
                seen += 1
                if view.id in wanted:
                    found[view.id] = view
                if len(found) == len(wanted) or seen >= len(wanted) + 1000:
                    return

    await on_any(clients, read, first)
    return found


async def views_when_ended(
    clients: Sequence[AsyncClient],
    ids: list[str],
    deadline: float,
    label: str = "",
    every: float = 5.0,
    concurrency: int = 16,
) -> dict[str, JobView]:
    """The views of ``ids`` once every one has ended or ``deadline`` (monotonic) has passed: one pass
    over the job list, then, for each job that had not ended yet, ``Job.result`` (``concurrency``
    at a time) and its view once it has. A job with no view does not exist."""
    views = await read_views(clients, ids)
    pending = [j for j in ids if j not in views or views[j].state not in TERMINAL]
    work = iter(enumerate(pending))
    done = 0

    async def waiter() -> None:
        nonlocal done
        for n, job_id in work:
            await ended(clients, job_id, deadline, n)
            try:
                views[job_id] = await on_any(clients, partial(AsyncClient.get, job_id=job_id), n)
            except JobNotFound:
                views.pop(job_id, None)
            except LaneyardError:
                pass  # keep what the list said
            done += 1

    async def progress() -> None:
        started = time.monotonic()
        while True:
            await asyncio.sleep(every)
            print(
                f"  {label}: {len(ids) - len(pending) + done}/{len(ids)} ended "
                f"({done}/{len(pending)} waited for, {time.monotonic() - started:.0f}s)",
                flush=True,
            )

    if label:
        print(
            f"  {label}: {len(ids) - len(pending)}/{len(ids)} ended, waiting for {len(pending)}", flush=True
        )
    printer = asyncio.create_task(progress()) if label and pending else None
    try:
        await asyncio.gather(*(waiter() for _ in range(min(concurrency, len(pending)))))
    finally:
        if printer is not None:
            printer.cancel()
    return views


async def wait_all(
    clients: Sequence[AsyncClient], ids: list[str], within: float, label: str = ""
) -> dict[str, JobView]:
    """The views of ``ids`` once all have ended or ``within`` seconds passed: waits for the last
    one first (see ``wait_last``), then reads them all (see ``views_when_ended``)."""
    deadline = time.monotonic() + within
    await wait_last(clients, ids, deadline)
    return await views_when_ended(clients, ids, deadline, label)


async def report_progress(
    clients: Sequence[AsyncClient], label: str, submitted: Callable[[], int], total: int, every: float
) -> None:
    """Prints every ``every`` seconds how many jobs were submitted, and from ``/v1/status`` how many
    wait in the lane queues and run now: one cheap request, not a read of every job. Runs until
    cancelled."""
    started = time.monotonic()
    while True:
        await asyncio.sleep(every)
        try:
            status = await on_any(clients, lambda c: c.status())
            queued = sum(lane.queued or 0 for lane in status.lanes)
            running = sum(c.running_jobs for c in status.clusters.values())
            now = f"queued {queued}, running {running}"
        except LaneyardError as exc:
            now = f"no status ({type(exc).__name__})"
        print(
            f"  {label}: submitted {submitted()}/{total} in {time.monotonic() - started:.0f}s, {now}",
            flush=True,
        )


def doc_of(view: JobView) -> Doc:
    """A job as the API shows it, in the shape of its stored document as far as the stamps and the
    chaos verdict read it: the timeline is rebuilt from the transitions."""
    timeline: dict[str, dict[str, float]] = {}
    for t in view.transitions:
        timeline.setdefault(str(t.attempt), {})[str(t.state)] = t.at.timestamp() if t.at else 0.0
    return {
        "_id": view.id,
        "state": str(view.state),
        "attempt": view.attempt,
        "timeline": timeline,
        "reason": view.reason,
        "error": view.error,
        "runner": view.runner,
    }


def terminal_docs(views: dict[str, JobView]) -> dict[str, Doc]:
    return {job_id: doc_of(v) for job_id, v in views.items() if v.state in TERMINAL}


@dataclass
class Stamps:
    completed_at: list[float]
    submit_to_start: list[float]  # RUNNING - IN_QUEUE, first attempt
    dispatch: list[float]  # WAITING - IN_QUEUE, first attempt
    handover: list[float] = field(default_factory=list)  # RUNNING - WAITING: forward, claim by a runner
    finish: list[float] = field(default_factory=list)  # COMPLETED - RUNNING: the task and its final write


def stamps(docs: dict[str, Doc]) -> Stamps:
    s = Stamps([], [], [])
    for d in docs.values():
        first = d["timeline"].get("1", {})
        last = d["timeline"][str(d["attempt"])]
        if "COMPLETED" in last:
            s.completed_at.append(float(last["COMPLETED"]))
        if "RUNNING" in first and "IN_QUEUE" in first:
            s.submit_to_start.append(float(first["RUNNING"]) - float(first["IN_QUEUE"]))
        if "WAITING" in first and "IN_QUEUE" in first:
            s.dispatch.append(float(first["WAITING"]) - float(first["IN_QUEUE"]))
        if "RUNNING" in first and "WAITING" in first:
            s.handover.append(float(first["RUNNING"]) - float(first["WAITING"]))
        if "COMPLETED" in first and "RUNNING" in first:
            s.finish.append(float(first["COMPLETED"]) - float(first["RUNNING"]))
    return s


@dataclass
class Run:
    """One burst measured: everything `make bench` prints about it."""

    admit_rate: float
    e2e_rate: float
    stamps: Stamps
    finished: int
    rss_mib: dict[str, float]
    cpu_seconds: dict[str, float]
    wall: float


async def burst(
    bench: Bench,
    body: dict[str, object],
    n: int,
    label: str,
    batch: int = 1,
) -> Run:
    """Submits ``n`` copies of ``body`` as fast as 32 clients can (``batch`` jobs per request) and
    waits for all of them. Wall time and CPU are taken when the last job submitted has ended,
    before every job's stamps are read back."""
    cpu_before = bench.cpu()
    if bench.census is not None:
        bench.census.clear()
    accepted: list[str] = []
    t0 = time.time()
    deadline = time.monotonic() + max(600.0, n / 5)
    clients = [bench.client]
    watch = asyncio.create_task(report_progress(clients, label, lambda: len(accepted), n, every=5.0))
    try:
        ids, took = await submit_all(bench.stack.url, [dict(body) for _ in range(n)], accepted, batch=batch)
        await wait_last(clients, ids, deadline)
    finally:
        watch.cancel()
    wall = time.time() - t0
    cpu_after = bench.cpu()
    if bench.census is not None:
        print(f"  database commands per job ({label}):")
        print("\n".join("    " + line for line in bench.census.lines(n)))
    docs = terminal_docs(await views_when_ended(clients, ids, deadline))
    s = stamps(docs)
    e2e = len(s.completed_at) / (max(s.completed_at) - t0) if s.completed_at else float("nan")
    phases = {"queued": s.dispatch, "handover": s.handover, "finish": s.finish}
    medians = ", ".join(f"{k} {1000 * percentile(v, 50):.1f}" for k, v in phases.items())
    print(f"  phase medians ms: {medians}")
    return Run(
        admit_rate=n / took,
        e2e_rate=e2e,
        stamps=s,
        finished=len(docs),
        rss_mib=bench.rss_mib(),
        cpu_seconds={k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after},
        wall=wall,
    )
