"""``laneyard broker-users --apply`` against the local node: it makes the users with the permissions
of shared/amqp/permissions.py, and running it again changes nothing it was not asked to."""

from __future__ import annotations

import json
import re

import aio_pika
from typer.testing import CliRunner

from laneyard.services.cli.broker_users_cmd import plan
from laneyard.services.cli.main import app
from laneyard.shared.settings import Settings
from tests.support.broker_users import delete_broker_users, rabbitmqctl, skip_unless_local_node


def invoke(settings: Settings, *args: str) -> str:
    result = CliRunner().invoke(
        app, ["broker-users", "--prefix", settings.prefix, "-c", "gpu-1", *args],
        env={"LANEYARD_AMQP_URL": settings.amqp_url},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout


async def test_apply_makes_the_users_and_is_idempotent(settings: Settings) -> None:
    skip_unless_local_node(settings.amqp_url)
    users = plan(settings.prefix, ["gpu-1"])
    try:
        made = invoke(settings, "--apply")
        assert made.count(": created; permissions set on vhost /") == 3, made
        for user in users:
            [granted] = json.loads(rabbitmqctl("list_user_permissions", user.name, "--formatter", "json"))
            p = user.permissions
            assert (granted["configure"], granted["write"], granted["read"]) == (p.configure, p.write, p.read)
        # Each printed URL logs its service in.
        urls = re.findall(r"LANEYARD_AMQP_URL=(\S+)", made)
        assert len(urls) == 3 and all(f"{settings.prefix}-" in url for url in urls)
        for url in urls:
            connection = await aio_pika.connect(url, timeout=settings.network_timeout)
            await connection.close()

        again = invoke(settings, "--apply")
        assert again.count(": exists, password left as is; permissions set") == 3, again
        assert "LANEYARD_AMQP_URL" not in again

        changed = invoke(settings, "--apply", "--reset-passwords", "--password", "n3w-pass")
        assert changed.count(": exists, password changed; permissions set") == 3, changed
        rabbitmqctl("authenticate_user", users[-1].name, "n3w-pass")
    finally:
        delete_broker_users(*(user.name for user in users))


def test_without_apply_it_only_prints(settings: Settings) -> None:
    printed = invoke(settings)
    names = [user.name for user in plan(settings.prefix, ["gpu-1"])]
    assert all(f"rabbitmqctl add_user {name}" in printed for name in names), printed
    assert printed.count("rabbitmqctl set_permissions -p / ") == 3
    assert "# runner of cluster gpu-1" in printed
