"""``laneyard up``: the whole stack on one machine, supervised, stopped cleanly on Ctrl-C.

Uses the local RabbitMQ (started with ``rabbitmq-server -detached`` if installed and not running)
and, unless LANEYARD_MONGO_URL is set, the embedded nx-27017 MongoDB-wire server.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from laneyard.shared.embedded.mongo import EmbeddedMongo, port_open
from laneyard.shared.settings import Settings

RESTART_LIMIT = 5


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, env=self.env)
        self.started_at = time.monotonic()


def say(message: str) -> None:
    print(f"laneyard up: {message}", file=sys.stderr, flush=True)


def broker_address(url: str) -> tuple[str, int]:
    """Where an AMQP URL points; without a port, the scheme's (5671 for ``amqps``)."""
    parsed = urlparse(url)
    default = 5671 if parsed.scheme == "amqps" else 5672
    return parsed.hostname or "127.0.0.1", parsed.port or default


def ensure_rabbitmq(url: str, timeout: float = 90.0) -> None:
    host, port = broker_address(url)
    if port_open(host, port):
        return
    if host not in ("127.0.0.1", "localhost") or shutil.which("rabbitmq-server") is None:
        raise SystemExit(
            f"RabbitMQ is not answering at {host}:{port}. Install it (apt-get install -y rabbitmq-server) "
            "or set LANEYARD_AMQP_URL."
        )
    say("starting the local RabbitMQ (rabbitmq-server -detached)")
    subprocess.run(["rabbitmq-server", "-detached"], check=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.5)
    raise SystemExit(f"RabbitMQ did not come up on {host}:{port} within {timeout:.0f}s")


def run_stack(settings: Settings, *, demo: bool, runners: int, data_dir: str) -> int:
    ensure_rabbitmq(settings.amqp_url)
    mongo: EmbeddedMongo | None = None
    env = dict(os.environ)
    if "LANEYARD_MONGO_URL" not in os.environ:
        mongo = EmbeddedMongo(Path(data_dir).resolve() / "mongo")
        env["LANEYARD_MONGO_URL"] = mongo.start()
        say(f"embedded MongoDB-wire server (nx-27017) at {mongo.url}, data in {mongo.data_dir}")
    laneyard = [sys.executable, "-m", "laneyard.services.cli"]
    children = [
        Child("admission", [*laneyard, "admission"], env),
        Child("dispatcher", [*laneyard, "dispatcher"], env),
    ]
    # The demo's tasks, for laneyard up is the way to try Laneyard; a plain runner has none.
    children += [Child(f"runner-{i + 1}", [*laneyard, "runner", "--demo-tasks"], env) for i in range(runners)]
    if demo:
        scheme = "https" if settings.http_tls_certfile else "http"
        url = f"{scheme}://127.0.0.1:{settings.http_port}"
        children.append(Child("demo", [*laneyard, "demo", "--url", url], env))

    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    for child in children:
        child.start()
    say(f"started {', '.join(c.name for c in children)}; Ctrl-C stops everything")
    code = 0
    try:
        while not stopping:
            time.sleep(0.2)
            for child in children:
                rc = child.proc.poll() if child.proc else None
                if rc is None or stopping:
                    continue
                if child.name == "demo" and rc == 0:
                    continue
                if child.restarts >= RESTART_LIMIT:
                    say(f"{child.name} keeps exiting (last code {rc}); stopping")
                    stopping, code = True, 1
                    break
                child.restarts += 1
                say(f"{child.name} exited with {rc}; restarting ({child.restarts}/{RESTART_LIMIT})")
                child.start()
    finally:
        say("stopping")
        for child in reversed(children):
            if child.proc and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + settings.shutdown_grace_seconds + 5
        for child in children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
        if mongo is not None:
            mongo.stop()
        say("stopped")
    return code
