"""The chaos itself: SIGKILL a random runner, the active dispatcher or an admission replica at random
moments, each restarted a few seconds later, and restart RabbitMQ once; plus a supervisor that
restarts a service that exited on its own (and records it: that is a finding)."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field

from laneyard.shared.store.database import Database
from tests.support.stack import Service


def restart_rabbitmq() -> str:
    """stop_app/start_app: the node stays up, every connection is closed, durable queues stay."""
    out = []
    for command in ("stop_app", "start_app"):
        done = subprocess.run(["rabbitmqctl", command], capture_output=True, text=True, timeout=120)
        out.append(f"{command} rc={done.returncode}")
        if command == "stop_app":
            time.sleep(3)
    return ", ".join(out)


def last_error(service: Service) -> str:
    """The last error or critical line of a service's JSON log (why it exited)."""
    try:
        lines = service.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines[-400:]):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("level") in ("error", "critical"):
            exc = str(entry.get("exc") or "").strip().splitlines()
            return f"{entry.get('logger')}: {entry.get('msg')!s:.200} {exc[-1] if exc else ''}".strip()
    return lines[-1][:300] if lines else ""


@dataclass
class Monkey:
    db: Database
    roles: dict[str, list[Service]]
    rng: random.Random
    started: float = field(default_factory=time.monotonic)
    events: list[str] = field(default_factory=list)
    done_kinds: set[str] = field(default_factory=set)
    down: set[str] = field(default_factory=set)  # killed on purpose, not yet restarted
    unplanned: list[str] = field(default_factory=list)
    rabbitmq_restarted_at: float | None = None  # epoch

    def say(self, text: str) -> None:
        self.events.append(f"{time.monotonic() - self.started:7.1f}s  {text}")
        print(f"  chaos {self.events[-1]}", flush=True)

    async def active_dispatcher(self) -> Service | None:
        lease = await self.db["leases"].find_one({"_id": "dispatcher"})
        holder = str(lease.get("holder")) if lease else ""
        for s in self.roles["dispatcher"]:
            if s.proc is not None and f"-{s.proc.pid}-" in holder:
                return s
        return None

    async def kill(self, victim: Service, why: str) -> None:
        self.down.add(victim.name)
        pid = victim.proc.pid if victim.proc else None
        self.say(f"SIGKILL {victim.name} (pid {pid}{why})")
        victim.signal(signal.SIGKILL)
        await asyncio.to_thread(victim.wait, 10)
        await asyncio.sleep(self.rng.uniform(2.0, 5.0))
        victim.start()
        self.down.discard(victim.name)
        self.say(f"restarted {victim.name} (pid {victim.proc.pid if victim.proc else None})")

    async def act(self, kind: str) -> None:
        self.done_kinds.add(kind)
        if kind == "rabbitmq":
            self.say("restart RabbitMQ (rabbitmqctl stop_app; 3 s; start_app)")
            self.rabbitmq_restarted_at = time.time()
            self.say(f"RabbitMQ back: {await asyncio.to_thread(restart_rabbitmq)}")
        elif kind == "dispatcher":
            victim = await self.active_dispatcher()
            why = ", the lease holder" if victim else ", no lease holder found: a random one"
            await self.kill(victim or self.rng.choice(self.roles["dispatcher"]), why)
        else:
            await self.kill(self.rng.choice(self.roles[kind]), "")

    async def run(
        self, stop: asyncio.Event, gap: tuple[float, float] = (3.0, 8.0), rabbitmq: bool = True
    ) -> None:
        """Acts at random moments until ``stop`` is set and every kind was done once; RabbitMQ is
        restarted exactly once (unless ``rabbitmq`` is False), among the first few actions."""
        kinds = ["runner", "dispatcher", "admission"] + (["rabbitmq"] if rabbitmq else [])
        self.rng.shuffle(kinds)
        while not (stop.is_set() and self.done_kinds >= set(kinds)):
            await asyncio.sleep(self.rng.uniform(*gap))
            first = [k for k in kinds if k not in self.done_kinds]
            await self.act(first[0] if first else self.rng.choice(["runner", "dispatcher", "admission"]))

    async def supervise(self, stop: asyncio.Event) -> None:
        """Restarts a service that exited when nobody killed it, as `laneyard up`, Compose or
        systemd would (the services exit on purpose when their AMQP connection stays broken)."""
        while not stop.is_set():
            await asyncio.sleep(1.0)
            for service in [s for group in self.roles.values() for s in group]:
                if service.name in self.down or service.proc is None:
                    continue
                rc = service.proc.poll()
                if rc is None:
                    continue
                finding = f"{service.name} exited by itself with code {rc}: {last_error(service)}"
                self.unplanned.append(finding)
                self.say(finding + "; restarted")
                service.start()
