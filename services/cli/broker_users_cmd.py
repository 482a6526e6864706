"""``laneyard broker-users``: one RabbitMQ user per service, with only the permissions it needs.

Prints the ``rabbitmqctl`` commands that make the users (admission, dispatcher, one runner user
per cluster, optionally an AMQP submitter) and the ``LANEYARD_AMQP_URL`` each service runs with;
``--apply`` runs them against this machine's node instead. Passwords are generated unless given,
passed to ``rabbitmqctl`` on its standard input (never in a command line another user can see)
and shown once, on stdout; nothing here logs them. The permissions are those of
``shared/amqp/permissions.py``, described in docs/security.md.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import typer

from laneyard.services.cli.exit_codes import ExitCode
from laneyard.shared.amqp import permissions
from laneyard.shared.amqp.permissions import Permissions
from laneyard.shared.settings import get_settings

CTL_TIMEOUT_SECONDS = 60.0
# rabbitmqctl is installed in /usr/sbin, which a user's PATH may lack.
CTL_PATH = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin"


@dataclass(frozen=True)
class BrokerUser:
    service: str  # what the user is for, as shown
    name: str
    permissions: Permissions


def plan(prefix: str, clusters: list[str], *, submitter: bool = False) -> list[BrokerUser]:
    """The users of a deployment whose exchanges and queues start with ``prefix``."""
    users = [
        BrokerUser("admission", f"{prefix}-admission", permissions.admission(prefix)),
        BrokerUser("dispatcher", f"{prefix}-dispatcher", permissions.dispatcher(prefix)),
    ]
    users += [
        BrokerUser(f"runner of cluster {c}", f"{prefix}-runner-{c}", permissions.runner(prefix, c))
        for c in dict.fromkeys(clusters)
    ]
    if submitter:
        users.append(BrokerUser("AMQP submitter", f"{prefix}-submitter", permissions.submitter(prefix)))
    return users


def vhost_of(amqp_url: str) -> str:
    """The virtual host an AMQP URL names; ``/`` when it names none."""
    return unquote(urlsplit(amqp_url).path[1:]) or "/"


def service_url(amqp_url: str, user: str, password: str, vhost: str) -> str:
    """``amqp_url`` (scheme, host, port and TLS options kept) for ``user`` on ``vhost``."""
    parts = urlsplit(amqp_url)
    address = parts.netloc.rpartition("@")[2]
    path = parts.path if vhost == vhost_of(amqp_url) else "/" + quote(vhost, safe="")
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{address}"
    return urlunsplit((parts.scheme, netloc, path or "/", parts.query, parts.fragment))


def shell_lines(user: BrokerUser, password: str, vhost: str) -> list[str]:
    """The commands that make ``user``, as an administrator would type them."""
    p = user.permissions
    return [
        f"printf '%s\\n' {shlex.quote(password)} | rabbitmqctl add_user {shlex.quote(user.name)}",
        shlex.join(["rabbitmqctl", "set_permissions", "-p", vhost, user.name, p.configure, p.write, p.read]),
    ]


class CtlFailed(RuntimeError):
    """rabbitmqctl failed or did not answer in time."""


class Rabbitmqctl:
    """The node's ``rabbitmqctl``; every call bounded by ``timeout`` seconds."""

    def __init__(self, path: str, timeout: float = CTL_TIMEOUT_SECONDS) -> None:
        self.path = path
        self.timeout = timeout

    def run(self, *args: str, stdin: str | None = None) -> str:
        try:
            done = subprocess.run(
                [self.path, "-q", *args],
                input=stdin,
                capture_output=True,
                text=True,
                timeout=self.timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise CtlFailed(f"rabbitmqctl {args[0]} did not answer within {self.timeout:.0f} s") from exc
        if done.returncode != 0:
            raise CtlFailed(f"rabbitmqctl {args[0]} failed: {(done.stderr or done.stdout).strip()}")
        return done.stdout

    def users(self) -> set[str]:
        return {str(row["user"]) for row in json.loads(self.run("list_users", "--formatter", "json") or "[]")}

    def add_user(self, name: str, password: str) -> None:
        self.run("add_user", name, stdin=password + "\n")

    def change_password(self, name: str, password: str) -> None:
        self.run("change_password", name, stdin=password + "\n")

    def set_permissions(self, vhost: str, name: str, p: Permissions) -> None:
        self.run("set_permissions", "-p", vhost, name, p.configure, p.write, p.read)


@dataclass(frozen=True)
class Applied:
    what: str  # what became of the user
    password: str | None  # its new password; None when it was left as is


def apply(
    ctl: Rabbitmqctl,
    users: list[BrokerUser],
    passwords: dict[str, str],
    vhost: str,
    *,
    reset_passwords: bool,
) -> dict[str, Applied]:
    """Makes or updates every user and sets its permissions; safe to run again."""
    existing = ctl.users()
    outcome: dict[str, Applied] = {}
    for user in users:
        password = passwords[user.name]
        if user.name not in existing:
            ctl.add_user(user.name, password)
            outcome[user.name] = Applied("created", password)
        elif reset_passwords:
            ctl.change_password(user.name, password)
            outcome[user.name] = Applied("exists, password changed", password)
        else:
            outcome[user.name] = Applied("exists, password left as is", None)
        ctl.set_permissions(vhost, user.name, user.permissions)
    return outcome


def broker_users(
    cluster: Annotated[
        list[str] | None, typer.Option("--cluster", "-c", help="a cluster to make a runner user for (repeat)")
    ] = None,
    prefix: Annotated[str | None, typer.Option(help="exchange and queue prefix (LANEYARD_PREFIX)")] = None,
    vhost: Annotated[str | None, typer.Option(help="virtual host (default: LANEYARD_AMQP_URL's)")] = None,
    password: Annotated[
        str | None, typer.Option(help="one password for every user (default: a new one each)")
    ] = None,
    submitter: Annotated[
        bool, typer.Option("--submitter", help="also a user that may only publish submissions")
    ] = False,
    do_apply: Annotated[
        bool, typer.Option("--apply", help="run the commands with this machine's rabbitmqctl")
    ] = False,
    reset_passwords: Annotated[
        bool, typer.Option("--reset-passwords", help="with --apply: new passwords for users that exist")
    ] = False,
) -> None:
    """Print (or --apply) the RabbitMQ users and permissions each service needs, and their URLs."""
    settings = get_settings()
    prefix = prefix or settings.prefix
    vhost = vhost or vhost_of(settings.amqp_url)
    users = plan(prefix, cluster or ["default"], submitter=submitter)
    passwords = {u.name: password or secrets.token_urlsafe(24) for u in users}
    width = max(len(u.service) for u in users)
    if not do_apply:
        typer.echo("# As the broker's administrator (for a user that exists, change_password, not add_user):")
        for user in users:
            typer.echo("\n".join(shell_lines(user, passwords[user.name], vhost)))
        typer.echo("\n# Each service's LANEYARD_AMQP_URL:")
        for user in users:
            url = service_url(settings.amqp_url, user.name, passwords[user.name], vhost)
            typer.echo(f"# {user.service:<{width}}  {url}")
        typer.echo("The passwords are shown once.", err=True)
        return
    path = shutil.which("rabbitmqctl", path=CTL_PATH)
    if path is None:
        typer.echo(
            "laneyard: rabbitmqctl is not installed here; run without --apply to print the commands", err=True
        )
        raise typer.Exit(ExitCode.USAGE)
    try:
        outcome = apply(Rabbitmqctl(path), users, passwords, vhost, reset_passwords=reset_passwords)
    except CtlFailed as exc:
        typer.echo(f"laneyard: {exc}", err=True)
        raise typer.Exit(ExitCode.SERVER_ERROR) from exc
    for user in users:
        done = outcome[user.name]
        typer.echo(f"{user.service:<{width}}  {user.name}: {done.what}; permissions set on vhost {vhost}")
        if done.password is not None:
            url = service_url(settings.amqp_url, user.name, done.password, vhost)
            typer.echo(f"{'':<{width}}  LANEYARD_AMQP_URL={url}")
    typer.echo("The passwords are shown once.", err=True)


def register(app: typer.Typer) -> None:
    app.command("broker-users")(broker_users)
