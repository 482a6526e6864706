"""The three services as real processes, for end-to-end tests, chaos runs and benchmarks."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from laneyard.shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]

# How a service is started: ``python -m`` by default, or the ``laneyard`` console script a user would run.
PYTHON_M = (sys.executable, "-m", "laneyard.services.cli")
CONSOLE_SCRIPT = (str(Path(sysconfig.get_path("scripts")) / "laneyard"),)


def settings_env(settings: Settings, *, repo_on_path: bool = True, **extra: str) -> dict[str, str]:
    """The environment of a service. ``repo_on_path`` puts the repository root on PYTHONPATH (so
    ``tests.e2e.tasks`` imports); without it the service sees only what an installed Laneyard has."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"LANEYARD_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    env.update(extra)
    if repo_on_path:
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    cwd: Path = ROOT

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.cwd
            )

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout)


@dataclass
class Stack:
    settings: Settings
    log_dir: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)
    # How wait_ready checks an HTTPS admission's certificate (a context trusting the test CA).
    verify: ssl.SSLContext | bool = True

    @property
    def url(self) -> str:
        scheme = "https" if self.settings.http_tls_certfile else "http"
        return f"{scheme}://127.0.0.1:{self.settings.http_port}"

    def add(
        self,
        role: str,
        *args: str,
        name: str | None = None,
        cwd: Path = ROOT,
        command: Sequence[str] = PYTHON_M,
        repo_on_path: bool = True,
        **env: str,
    ) -> Service:
        """Starts ``<command> <role> <args>`` in ``cwd``; ``env`` adds to the environment."""
        name = name or f"{role}-{sum(s.name.startswith(role) for s in self.services) + 1}"
        service = Service(
            name,
            [*command, role, *args],
            settings_env(self.settings, repo_on_path=repo_on_path, **self.env_extra, **env),
            self.log_dir / f"{name}.log",
            cwd=cwd,
        )
        self.services.append(service)
        service.start()
        return service

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for s in self.services:
                if s.proc is not None and s.proc.poll() is not None:
                    raise RuntimeError(f"{s.name} exited with {s.proc.returncode}:\n{self.tail(s)}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1, verify=self.verify).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(
            "admission did not become ready:\n" + "\n".join(self.tail(s) for s in self.services)
        )

    def wait_logged(self, service: Service, text: str, timeout: float = 60.0) -> None:
        """Waits until ``service`` has logged ``text`` (e.g. that it started)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.proc is not None and service.proc.poll() is not None:
                raise RuntimeError(
                    f"{service.name} exited with {service.proc.returncode}:\n{self.tail(service)}"
                )
            try:
                if text in service.log_path.read_text(errors="replace"):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{service.name} did not log {text!r} within {timeout} s:\n{self.tail(service)}")

    def tail(self, service: Service, lines: int = 40) -> str:
        try:
            text = service.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return f"--- {service.name}\n" + "\n".join(text)

    def stop(self, timeout: float = 20.0) -> None:
        for s in self.services:
            s.signal(signal.SIGTERM)
        for s in self.services:
            s.wait(timeout)
