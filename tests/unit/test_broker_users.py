"""``laneyard broker-users``: the users it plans, the URLs and commands it prints."""

from __future__ import annotations

import shlex

from laneyard.services.cli.broker_users_cmd import plan, service_url, shell_lines, vhost_of
from laneyard.shared.amqp import permissions


def test_one_user_per_service_and_per_cluster() -> None:
    users = plan("lx", ["default", "gpu-1", "default"], submitter=True)
    assert [u.name for u in users] == [
        "lx-admission", "lx-dispatcher", "lx-runner-default", "lx-runner-gpu-1", "lx-submitter",
    ]  # fmt: skip
    assert users[3].permissions == permissions.runner("lx", "gpu-1")
    assert users[4].permissions == permissions.submitter("lx")
    assert [u.name for u in plan("lx", ["a"])][-1] == "lx-runner-a"


def test_a_services_url_keeps_the_address_and_tls_options() -> None:
    base = "amqps://guest:guest@broker.example:5671/?cafile=/etc/ca.pem"
    assert service_url(base, "lx-runner-a", "p@ss:w/rd", "/") == (
        "amqps://lx-runner-a:p%40ss%3Aw%2Frd@broker.example:5671/?cafile=/etc/ca.pem"
    )
    assert service_url("amqp://127.0.0.1:5672", "u", "p", "/") == "amqp://u:p@127.0.0.1:5672/"
    assert service_url("amqp://g:g@h:5672/", "u", "p", "jobs/eu") == "amqp://u:p@h:5672/jobs%2Feu"


def test_the_vhost_of_a_url() -> None:
    assert vhost_of("amqp://g:g@h:5672/") == "/"
    assert vhost_of("amqp://h") == "/"
    assert vhost_of("amqp://g:g@h/%2F") == "/"
    assert vhost_of("amqp://g:g@h/jobs") == "jobs"


def test_the_printed_commands_pass_the_password_on_stdin() -> None:
    [user] = [u for u in plan("lx", ["a"]) if u.name == "lx-runner-a"]
    add, grant = shell_lines(user, "it's secret", "/")
    assert add == "printf '%s\\n' 'it'\"'\"'s secret' | rabbitmqctl add_user lx-runner-a"
    p = user.permissions
    assert shlex.split(grant) == ["rabbitmqctl", "set_permissions", "-p", "/", "lx-runner-a",
                                  p.configure, p.write, p.read]  # fmt: skip
