"""Identifiers: of jobs (chosen at admission, or by a publisher) and of service processes."""

from __future__ import annotations

import os
import re
import secrets
import socket
import uuid

# A publisher may choose a job's id (the AMQP message_id), so a re-publish is the same job.
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def new_job_id() -> str:
    return uuid.uuid4().hex


def new_process_id() -> str:
    """A runner's or dispatcher's id: where it runs, plus a suffix so a reused pid is a new id."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"
