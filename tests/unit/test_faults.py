"""The test-only fault points: a no-op unless named in LANEYARD_FAULTS, then a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

PROBE = "from laneyard.shared import faults; faults.point('b'); print('alive')"


def run(faults: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LANEYARD_FAULTS"}
    if faults is not None:
        env["LANEYARD_FAULTS"] = faults
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)


def test_a_point_named_in_laneyard_faults_kills_the_process() -> None:
    done = run("a, b ,c")
    assert done.returncode == -signal.SIGKILL and done.stdout == ""


def test_a_point_not_named_is_a_no_op() -> None:
    for faults in (None, "", "a,c", "bb"):
        done = run(faults)
        assert (done.returncode, done.stdout.strip()) == (0, "alive"), (faults, done.stderr)
