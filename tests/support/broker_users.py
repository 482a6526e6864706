"""RabbitMQ users of a test's own, made and deleted with ``rabbitmqctl`` on the local node."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
from collections.abc import Awaitable, Iterator
from urllib.parse import urlsplit

import pytest
from aiormq.exceptions import ChannelAccessRefused

from laneyard.services.cli.broker_users_cmd import service_url, vhost_of
from laneyard.shared.amqp.permissions import Permissions
from laneyard.shared.settings import Settings
from tests.support.broker import CTL_ENV

CTL_TIMEOUT_SECONDS = 60


def rabbitmqctl(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=CTL_TIMEOUT_SECONDS,
        env=CTL_ENV,
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {args[0]} failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def skip_unless_local_node(amqp_url: str) -> None:
    """Skips the test unless this machine's ``rabbitmqctl`` manages the broker at ``amqp_url``."""
    if shutil.which("rabbitmqctl", path=CTL_ENV["PATH"]) is None:
        pytest.skip("rabbitmqctl is not installed: no broker users can be made")
    if urlsplit(amqp_url).hostname not in ("127.0.0.1", "localhost"):
        pytest.skip(f"the broker at {amqp_url} is not this machine's node")


@contextlib.contextmanager
def broker_users(settings: Settings, wanted: dict[str, Permissions]) -> Iterator[dict[str, str]]:
    """One user per key of ``wanted`` (named after the test's prefix, a random suffix and the key),
    with a random password and those permissions on the test's virtual host; yields each key's
    AMQP URL, and deletes the users however the block ends."""
    skip_unless_local_node(settings.amqp_url)
    vhost, suffix = vhost_of(settings.amqp_url), secrets.token_hex(3)
    made: list[str] = []
    try:
        urls: dict[str, str] = {}
        for key, p in wanted.items():
            name, password = f"{settings.prefix}-{key}-{suffix}", secrets.token_urlsafe(18)
            rabbitmqctl("add_user", name, stdin=password + "\n")
            made.append(name)
            rabbitmqctl("set_permissions", "-p", vhost, name, p.configure, p.write, p.read)
            urls[key] = service_url(settings.amqp_url, name, password, vhost)
        yield urls
    finally:
        delete_broker_users(*made)


def delete_broker_users(*names: str) -> None:
    """Deletes the users of ``names`` that exist; raises once all were tried if one could not be."""
    failed = []
    for name in names:
        try:
            rabbitmqctl("delete_user", name)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            if "does not exist" not in str(exc) and "No such user" not in str(exc):
                failed.append(f"{name}: {exc}")
    if failed:
        raise RuntimeError(f"could not delete the test's broker users: {failed}")


async def access_refused(step: Awaitable[object]) -> str:
    """The broker's refusal of ``step``, which must be ACCESS_REFUSED (the channel is closed)."""
    with pytest.raises(ChannelAccessRefused) as caught:
        await step
    return str(caught.value)
