"""A fresh admission with no configuration answers only on loopback: told to listen anywhere else
without API keys, it refuses at start-up and says how to configure keys."""

from __future__ import annotations

import os
import subprocess
import sys

from laneyard.shared.embedded.mongo import free_port


def start_admission(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LANEYARD_")}
    return subprocess.run(
        [sys.executable, "-m", "laneyard.services.cli", "admission"],
        env={**clean, "LANEYARD_HTTP_PORT": str(free_port()), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_admission_refuses_an_open_address_without_keys() -> None:
    done = start_admission(LANEYARD_HTTP_HOST="0.0.0.0")
    assert done.returncode != 0
    assert "refusing to listen on '0.0.0.0' without API keys" in done.stderr
    assert "LANEYARD_API_KEYS" in done.stderr and "LANEYARD_ALLOW_OPEN=1" in done.stderr
