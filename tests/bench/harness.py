"""What the benchmarks share: a stack to measure, submitting over HTTP, following progress without
loading the database it measures, reading stamps back, percentiles, and per-process RSS and CPU."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database, Doc
from tests.bench.http_load import Connection
from tests.bench.wire_census import Census
from tests.support.stack import Service, Stack

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
    procs: list[Proc] = field(default_factory=list)
    census: Census | None = None

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
    b = Bench(stack, services, census=census)
    if (pid := embedded_mongo_pid(settings.mongo_url)) is not None:
        b.procs.append(Proc("nx-27017", pid))
    if (pid := rabbitmq_pid()) is not None:
        b.procs.append(Proc("rabbitmq", pid))
    try:
        await asyncio.to_thread(stack.wait_ready)
    except BaseException:
        stack.stop()
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
    appended to ``accepted`` as they come back, so progress can be followed while submitting."""
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


async def submit_paced(url: str, bodies: list[dict[str, object]], rate: float) -> list[str]:
    """Submits at ``rate`` per second on a schedule, each on its own (for latency at a given load):
    a request whose time has come takes an idle keep-alive connection, or opens one."""
    started = time.monotonic()
    idle: list[Connection] = []
    opened: list[Connection] = []

    async def one(body: dict[str, object]) -> str:
        if idle:
            conn = idle.pop()
        else:
            conn = Connection(url)
            opened.append(conn)
        try:
            reply = await conn.post("/v1/jobs", body)
        finally:
            idle.append(conn)
        assert reply.status == 202, reply.body
        return str(reply.json()["id"])

    pending: list[asyncio.Task[str]] = []
    try:
        for i, body in enumerate(bodies):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(one(body)))
        return list(await asyncio.gather(*pending))
    finally:
        for conn in opened:
            await conn.close()


async def follow(
    db: Database,
    accepted: list[str],
    total: int,
    within: float,
    label: str = "",
    every: float = 5.0,
    poll: float = 0.5,
    sweep: bool = False,
) -> set[str]:
    """Waits until ``total`` accepted jobs are terminal; returns the ids that are.

    Only unfinished ids are read, 500 at a time, by ``_id`` (the one indexed query) with a
    projection, so watching does not slow down the database being measured. Jobs of one priority
    finish roughly in submission order, so by default the oldest are read until they are done;
    ``sweep`` goes round all unfinished ids instead, a page per poll (for mixed priorities, where
    old jobs wait).
    """
    page_size = 500
    deadline = time.monotonic() + within
    done: set[str] = set()
    pending: list[str] = []  # accepted, not yet seen terminal, oldest first
    seen = at = 0
    started = last_print = time.monotonic()
    while len(done) < total and time.monotonic() < deadline:
        pending.extend(accepted[seen:])
        seen = len(accepted)
        at = at if sweep and at < len(pending) else 0
        page = pending[at : at + page_size]
        finished: set[str] = set()
        if page:
            finished = {
                d["_id"]
                async for d in db["jobs"].find({"_id": {"$in": page}}, {"state": 1})
                if d["state"] in TERMINAL
            }
            done |= finished
            left = [j for j in page if j not in finished]
            pending[at : at + page_size] = left
            at += len(left)
        now = time.monotonic()
        if label and now - last_print >= every:
            last_print = now
            print(
                f"  {label}: submitted {len(accepted)}/{total}, finished {len(done)} "
                f"({len(done) / (now - started):.0f}/s)",
                flush=True,
            )
        if not page or len(finished) < len(page):
            await asyncio.sleep(poll)
    return done


async def read_docs(db: Database, ids: list[str] | set[str]) -> dict[str, Doc]:
    ordered = list(ids)
    docs: dict[str, Doc] = {}
    for k in range(0, len(ordered), 1000):
        async for d in db["jobs"].find(
            {"_id": {"$in": ordered[k : k + 1000]}}, {"state": 1, "attempt": 1, "timeline": 1, "reason": 1}
        ):
            docs[d["_id"]] = d
    return docs


async def wait_all(db: Database, ids: list[str], within: float) -> dict[str, Doc]:
    """The terminal documents among ``ids`` once all are terminal or ``within`` seconds passed."""
    return await read_docs(db, await follow(db, ids, len(ids), within))


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
    db: Database,
    body: dict[str, object],
    n: int,
    label: str,
    batch: int = 1,
) -> Run:
    """Submits ``n`` copies of ``body`` as fast as 32 clients can (``batch`` jobs per request) and
    waits for all of them."""
    cpu_before = bench.cpu()
    if bench.census is not None:
        bench.census.clear()
    accepted: list[str] = []
    t0 = time.time()
    watch = asyncio.create_task(follow(db, accepted, n, within=max(600.0, n / 5), label=label))
    _, took = await submit_all(bench.stack.url, [dict(body) for _ in range(n)], accepted, batch=batch)
    finished = await watch
    wall = time.time() - t0
    docs = await read_docs(db, finished)
    s = stamps(docs)
    e2e = len(s.completed_at) / (max(s.completed_at) - t0) if s.completed_at else float("nan")
    cpu_after = bench.cpu()
    phases = {"queued": s.dispatch, "handover": s.handover, "finish": s.finish}
    medians = ", ".join(f"{k} {1000 * percentile(v, 50):.1f}" for k, v in phases.items())
    print(f"  phase medians ms: {medians}")
    if bench.census is not None:
        print(f"  database commands per job ({label}):")
        print("\n".join("    " + line for line in bench.census.lines(n)))
    return Run(
        admit_rate=n / took,
        e2e_rate=e2e,
        stamps=s,
        finished=len(finished),
        rss_mib=bench.rss_mib(),
        cpu_seconds={k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after},
        wall=wall,
    )
