"""Sampling profiles of the stack while a burst runs: ``LANEYARD_BENCH_PROFILE=DIR make bench``.

py-spy attaches to every service and to nx-27017 (non-blocking, so the processes are not paused)
and writes collapsed stacks (``DIR/<name>.txt``, readable by flamegraph.pl and speedscope) and an
SVG flame graph. ``summary`` turns the collapsed stacks into the few lines worth reading: how
busy each process was, and where its samples went.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from tests.bench.harness import Bench

RATE = 100  # samples per second


def directory() -> Path | None:
    value = os.environ.get("LANEYARD_BENCH_PROFILE")
    return Path(value) if value else None


def py_spy() -> str | None:
    return shutil.which("py-spy", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])


Spies = list[subprocess.Popen[bytes]]


def start_spies(exe: str, bench: Bench, out: Path, tag: str) -> tuple[Spies, list[Path]]:
    out.mkdir(parents=True, exist_ok=True)
    spies: Spies = []
    files: list[Path] = []
    for proc in bench.watched():
        if proc.name == "rabbitmq":
            continue  # an Erlang VM: py-spy cannot read it
        raw = out / f"{tag}-{proc.name}.txt"
        files.append(raw)
        argv = [exe, "record", "--pid", str(proc.pid), "--rate", str(RATE), "--nonblocking"]
        with open(out / f"{tag}-{proc.name}.log", "wb") as log:
            spies.append(
                subprocess.Popen([*argv, "--format", "raw", "--output", str(raw)], stdout=log, stderr=log)
            )
    return spies, files


def stop_spies(spies: Spies) -> None:
    """py-spy writes its file when interrupted."""
    for spy in spies:
        spy.send_signal(signal.SIGINT)
    for spy in spies:
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait(5)


@contextlib.asynccontextmanager
async def profiled(bench: Bench, out: Path | None, tag: str) -> AsyncIterator[list[Path]]:
    """Records every watched process while the block runs; yields the raw files it will write."""
    exe = py_spy()
    if out is None or exe is None:
        if out is not None:
            print("  (py-spy is not installed: pip install py-spy; no profile taken)")
        yield []
        return
    spies, files = await asyncio.to_thread(start_spies, exe, bench, out, tag)
    try:
        yield files
    finally:
        await asyncio.to_thread(stop_spies, spies)


def load(raw: Path) -> Counter[str]:
    stacks: Counter[str] = Counter()
    with contextlib.suppress(OSError):
        for line in raw.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                stacks[stack] += int(count)
    return stacks


def frame_name(frame: str) -> str:
    """``func (pkg/module.py:12)`` -> ``pkg/module.py:func`` (the line number would split a function)."""
    func, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{path}:{func}"


def summary(raw: Path, seconds: float, top: int = 12) -> list[str]:
    """How busy the process was (samples / (rate x seconds)) and where the samples went: the
    functions most often on top of the stack (self), and the project's own functions and the
    libraries most often anywhere on it (inclusive)."""
    stacks = load(raw)
    total = sum(stacks.values())
    if total == 0:
        return [f"{raw.stem}: no samples"]
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, n in stacks.items():
        frames = [frame_name(f) for f in stack.split(";") if f]
        if frames:
            own[frames[-1]] += n
        for name in set(frames):
            inclusive[name] += n
    busy = total / (RATE * seconds)
    lines = [f"{raw.stem}: {total} samples over {seconds:.1f}s = {busy:.0%} of one core busy"]
    lines.append("  self (on top of the stack):")
    lines += [f"    {n / total:6.1%}  {name}" for name, n in own.most_common(top)]
    lines.append("  inclusive (anywhere on the stack; project code and request handlers):")
    interesting = [
        (name, n)
        for name, n in inclusive.most_common()
        if any(k in name for k in ("services/", "shared/", "nx_27017", "neosqlite", "aiormq", "pymongo"))
        and n / total < 0.999
    ]
    lines += [f"    {n / total:6.1%}  {name}" for name, n in interesting[:top]]
    return lines
