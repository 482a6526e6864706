"""``laneyard up`` as a user runs it, demo included, on this machine: 300 jobs submitted with every
field left to its default (``{"task": "demo.echo"}``: the LARGE tier, priority 5, lane main) all
complete beside the demo's load, and Ctrl-C stops the whole stack cleanly.

``laneyard up`` gets its own HTTP port, prefix, database and data directory (so its own embedded
nx-27017) through LANEYARD_* variables and ``--data-dir``; the RabbitMQ is the tests' one. Nothing
else is set: the runner offers what it finds (this machine's cores and memory, 16 slots).

On 2 cores the runner offers 2,000 millicores, and at the 0.95 threshold three LARGE jobs (512 m
each) run at once. The jobs take milliseconds, yet 300 at once took 44-69 s here (p95 submit-to-
start 39-67 s), with the demo or without it: a job that finds no room goes through the delay queues
with a delay doubling up to LANEYARD_DELAY_MAX_MS (30 s), and waits there while the runner idles.
The test prints dispatch and handover apart so that shows; it asserts that every job completes
within WAIT, not how fast.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from laneyard import Client, Job, JobState
from laneyard.errors import LaneyardError
from laneyard.shared.embedded.mongo import free_port
from laneyard.shared.settings import Settings
from laneyard.shared.states import TERMINAL
from laneyard.shared.views.jobs import JobView
from tests.support.broker import delete_topology
from tests.support.stack import CONSOLE_SCRIPT
from tests.support.tags import new_tag

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

IN_QUEUE, WAITING, RUNNING = JobState.IN_QUEUE, JobState.WAITING, JobState.RUNNING

JOBS = 300
WAIT = 180.0  # seconds, for all of them to end


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def between(view: JobView, first: JobState, then: JobState) -> float | None:
    """Seconds from ``first`` to ``then`` in the job's first attempt (None if it lacks either)."""
    stamps = {t.state: t.at for t in view.transitions if t.attempt == 1 and t.at is not None}
    a, b = stamps.get(first), stamps.get(then)
    return (b - a).total_seconds() if a and b else None


def spread(views: list[JobView], first: JobState, then: JobState) -> str:
    values = [s for v in views if (s := between(v, first, then)) is not None]
    return f"p50 {1000 * percentile(values, 50):,.0f} ms, p95 {1000 * percentile(values, 95):,.0f} ms, " + (
        f"max {1000 * max(values, default=float('nan')):,.0f} ms"
    )


def wait_ready(url: str, up: subprocess.Popen[bytes], log: Path, within: float = 60.0) -> float:
    started = time.monotonic()
    while time.monotonic() < started + within:
        if up.poll() is not None:
            pytest.fail(
                f"laneyard up exited with {up.returncode}:\n{log.read_text(errors='replace')[-4000:]}"
            )
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"admission did not answer within {within:.0f}s:\n{log.read_text(errors='replace')[-4000:]}")


def wait_all(client: Client, ids: list[str], within: float) -> dict[str, JobView]:
    """Every job's view once all have ended, or as they stand after ``within`` seconds."""
    deadline = time.monotonic() + within
    views: dict[str, JobView] = {}
    open_ids = list(ids)
    next_print = time.monotonic() + 5
    while open_ids and time.monotonic() < deadline:
        still = []
        for job_id in open_ids:
            try:
                views[job_id] = view = client.get(job_id)
            except LaneyardError:
                still.append(job_id)
                continue
            if view.state not in TERMINAL:
                still.append(job_id)
        open_ids = still
        if time.monotonic() >= next_print:
            next_print += 5
            print(f"  {len(ids) - len(open_ids)}/{len(ids)} ended", flush=True)
        if open_ids:
            time.sleep(1.0)
    return views


def test_up_runs_300_default_jobs_beside_its_demo_and_stops_on_ctrl_c(amqp_url: str, tmp_path: Path) -> None:
    tag = new_tag()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANEYARD_")}
    env.update(
        LANEYARD_AMQP_URL=amqp_url, LANEYARD_PREFIX=tag, LANEYARD_MONGO_DB=tag,
        LANEYARD_HTTP_HOST="127.0.0.1", LANEYARD_HTTP_PORT=str(port),
    )  # fmt: skip
    log = tmp_path / "up.log"
    with open(log, "wb") as out:
        # A session of its own: Ctrl-C reaches every process of the group, as in a terminal.
        up = subprocess.Popen(
            [*CONSOLE_SCRIPT, "up", "--data-dir", str(tmp_path / "data")],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        print(f"\nadmission answered {wait_ready(url, up, log):.1f}s after laneyard up started", flush=True)
        with Client(url) as client:
            started = time.monotonic()
            handles = client.submit_many({"task": "demo.echo"} for _ in range(JOBS))
            ids = [h.id for h in handles if isinstance(h, Job)]
            assert len(ids) == JOBS, [h for h in handles if not isinstance(h, Job)][:5]
            print(f"{JOBS} default jobs submitted in {time.monotonic() - started:.2f}s", flush=True)
            views = wait_all(client, ids, WAIT)
            took = time.monotonic() - started
            states = Counter(str(view.state) for view in views.values())
            ended = list(views.values())
            print(f"{JOBS} default jobs: {dict(states)} in {took:.1f}s", flush=True)
            print(f"  submit-to-start (RUNNING - IN_QUEUE): {spread(ended, IN_QUEUE, RUNNING)}")
            print(f"  of which dispatch (WAITING - IN_QUEUE): {spread(ended, IN_QUEUE, WAITING)}")
            print(f"  of which handover (RUNNING - WAITING): {spread(ended, WAITING, RUNNING)}", flush=True)
            assert len(views) == JOBS and states == {"COMPLETED": JOBS}, states
            assert all(v.tier == "LARGE" and v.priority == 5 and v.lane == "main" for v in views.values())

        demo = re.findall(
            r"demo: +[\d.]+s +submitted +(\d+) +completed +(\d+)", log.read_text(errors="replace")
        )
        assert demo and int(demo[-1][1]) > 0, "the demo workload did not run beside the jobs"
        print(f"demo meanwhile: submitted {demo[-1][0]}, completed {demo[-1][1]}", flush=True)

        stopping = time.monotonic()
        os.killpg(up.pid, signal.SIGINT)
        code = up.wait(45)
        print(f"laneyard up exited with {code} {time.monotonic() - stopping:.1f}s after Ctrl-C", flush=True)
        text = log.read_text(errors="replace")
        assert code == 0, text[-4000:]
        assert "laneyard up: stopped" in text
        assert "restarting" not in text and "keeps exiting" not in text, text[-4000:]
        assert "Traceback" not in text, text[text.index("Traceback") - 500 :][:4000]
        with pytest.raises(ProcessLookupError):  # no process of the group is left behind
            os.killpg(up.pid, 0)
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait(10)
        else:
            try:
                os.killpg(up.pid, signal.SIGKILL)  # anything the stack left behind
            except ProcessLookupError:
                pass
        settings = Settings(amqp_url=amqp_url, prefix=tag)
        asyncio.run(delete_topology(settings))
