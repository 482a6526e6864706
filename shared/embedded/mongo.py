"""Start the nx-27017 MongoDB-wire server (SQLite underneath) as a subprocess.

Used by ``laneyard up`` and by the test fixtures when no MongoDB URL is given and no Docker engine
answers. One SQLite file per database (``--data-dir``) keeps test databases apart.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


class EmbeddedMongo:
    def __init__(self, data_dir: Path, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://{self.host}:{self.port}/"

    def _command(self) -> list[str]:
        exe = shutil.which("nx-27017", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        if exe is None:
            raise RuntimeError(
                "nx-27017 is not installed: pip install 'laneyard[embedded]' "
                "(or set LANEYARD_MONGO_URL to a real MongoDB)"
            )
        return [
            exe,
            "--data-dir", str(self.data_dir),
            "--host", self.host,
            "--port", str(self.port),
            "--log-file", str(self.data_dir / "nx-27017.log"),
            "--pid-file", str(self.data_dir / "nx-27017.pid"),
        ]  # fmt: skip

    def start(self, timeout: float = 30.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / "stdout.log", "ab") as out:
            self.process = subprocess.Popen(
                self._command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"nx-27017 exited with {self.process.returncode}; see {self.data_dir / 'stdout.log'}"
                )
            if port_open(self.host, self.port):
                return self.url
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nx-27017 did not listen on {self.host}:{self.port} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
