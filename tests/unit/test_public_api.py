"""The public surface: what ``laneyard`` exports, and what importing it loads."""

from __future__ import annotations

import subprocess
import sys

import laneyard


def test_every_exported_name_resolves_and_errors_share_one_root() -> None:
    for name in laneyard.__all__:
        assert getattr(laneyard, name) is not None, name
    for name in ("JobFailed", "JobCancelled", "JobNotFound", "Unauthorized", "Refused", "Unavailable"):
        assert issubclass(getattr(laneyard, name), laneyard.LaneyardError), name
    assert issubclass(laneyard.WaitTimeout, TimeoutError)


def test_submitting_applications_do_not_load_the_services() -> None:
    probe = (
        "import sys, laneyard; from laneyard import Client, AsyncClient, Job; "
        "print(sorted(m for m in sys.modules if m.startswith('laneyard.services')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
