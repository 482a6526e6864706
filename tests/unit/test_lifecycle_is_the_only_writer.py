"""Every job state change goes through shared/lifecycle.py: a reader finds them all with one grep.

The primitive writes (``jobs.transition``, ``jobs.insert`` and their batched forms in
``JobWrites``) may be called from that module alone, and no other code sets a job's ``state``.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIFECYCLE = ROOT / "shared" / "lifecycle.py"
# Where the primitives are defined (and the batched one calls the plain one's query builder).
DEFINITIONS = {ROOT / "shared" / "store" / "jobs.py", ROOT / "shared" / "store" / "job_writes.py"}
PRIMITIVE = re.compile(r"\b(jobs|writes|self\.writes)\.(transition|insert)\(|\btransition\(\s*$")
OPERATIONS = (
    "record", "mark_waiting", "send_back", "start", "finish", "await_subtasks", "requeue",
    "dead_letter", "cancel_queued", "cancel_awaiting", "request_cancel", "recover_lost", "expire",
)  # fmt: skip
SETS_STATE = re.compile(r"""["']\$set["']\s*:\s*\{\s*["']state["']""")


def code_files() -> list[Path]:
    return sorted(p for folder in ("services", "shared") for p in (ROOT / folder).rglob("*.py"))


def test_only_the_lifecycle_module_writes_a_jobs_state() -> None:
    offenders = []
    for path in code_files():
        if path == LIFECYCLE or path in DEFINITIONS:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if PRIMITIVE.search(line) or SETS_STATE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "state writes outside shared/lifecycle.py:\n" + "\n".join(offenders)


def test_the_lifecycle_module_names_its_operations() -> None:
    text = LIFECYCLE.read_text()
    for name in OPERATIONS:
        assert re.search(rf"^async def {name}\(", text, re.MULTILINE), name
