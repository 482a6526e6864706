"""A RabbitMQ node of the tests' own that speaks only TLS, on a free loopback port.

Never the machine's node: this one has its own node name, ports, Mnesia directory, Erlang cookie
and configuration under a scratch folder, and is stopped by its PID. Its only listener is TLS
(``listeners.tcp = none``); it verifies a client certificate when one is offered and accepts
clients without one. Its user has a password of its own, so a test can check it is never logged.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from laneyard.shared.embedded.mongo import free_port
from tests.support.tls import Certificates

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
# AMQP 0-9-1 protocol header; a broker answers it with a Connection.Start method frame (type 1).
PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"
# What the node's log says when a port it was given is taken (the TLS or the distribution port).
PORT_TAKEN = ("dist_port_already_used", "eaddrinuse")


def amqp_answers(port: int, context: ssl.SSLContext, timeout: float = 2.0) -> bool:
    """Whether an AMQP broker completes a TLS handshake on 127.0.0.1:``port`` and greets a client."""
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(PROTOCOL_HEADER)
            return tls.recv(1) == b"\x01"
    except (OSError, ssl.SSLError):
        return False


@dataclass
class TlsBroker:
    folder: Path
    certs: Certificates
    port: int = field(default_factory=free_port)
    user: str = "laneyard"
    password: str = field(default_factory=lambda: f"pw-{secrets.token_hex(12)}")
    name: str = field(default_factory=lambda: f"laneyard-tls-{secrets.token_hex(4)}@localhost")
    proc: subprocess.Popen[bytes] | None = None
    started_in: float = 0.0

    def url(self, **query: str) -> str:
        """An ``amqps://`` URL of this node; ``query`` adds to ``cafile`` (the test CA)."""
        params = urlencode({"cafile": str(self.certs.ca), **query})
        return f"amqps://{quote(self.user)}:{quote(self.password)}@127.0.0.1:{self.port}/?{params}"

    @property
    def pid_file(self) -> Path:
        return self.folder / "node.pid"

    def _write_config(self) -> Path:
        (self.folder / "home").mkdir(parents=True, exist_ok=True)
        config = self.folder / "rabbitmq.conf"
        config.write_text(
            "listeners.tcp = none\n"
            f"listeners.ssl.default = 127.0.0.1:{self.port}\n"
            f"ssl_options.cacertfile = {self.certs.ca}\n"
            f"ssl_options.certfile = {self.certs.server.cert}\n"
            f"ssl_options.keyfile = {self.certs.server.key}\n"
            "ssl_options.verify = verify_peer\n"
            "ssl_options.fail_if_no_peer_cert = false\n"
            f"default_user = {self.user}\n"
            f"default_pass = {self.password}\n"
            "log.console = false\n"
            "log.file.level = info\n"
        )
        (self.folder / "enabled_plugins").write_text("[].\n")
        env_file = self.folder / "env.conf"
        env_file.write_text(
            f"NODENAME={self.name}\n"
            f"DIST_PORT={free_port()}\n"
            f"MNESIA_BASE={self.folder / 'mnesia'}\n"
            f"LOG_BASE={self.folder / 'log'}\n"
            f"CONFIG_FILE={config}\n"
            f"ADVANCED_CONFIG_FILE={self.folder / 'advanced.config'}\n"
            f"ENABLED_PLUGINS_FILE={self.folder / 'enabled_plugins'}\n"
            f"PID_FILE={self.pid_file}\n"
            "ERL_EPMD_ADDRESS=127.0.0.1\n"
            # One scheduler, and distribution on loopback only: light on a shared 2-core machine.
            'SERVER_ADDITIONAL_ERL_ARGS="+S 1:1 +A 4 +sbwt none '
            '-kernel inet_dist_use_interface {127,0,0,1}"\n'
        )
        return env_file

    def start(self, timeout: float = 120.0, attempts: int = 3) -> None:
        """Starts the node and waits until it answers. A free port can be taken by another process
        between choosing it and the node binding it: then the node is started again on new ports."""
        if not SERVER.exists() or shutil.which("erl") is None:
            pytest.skip(f"{SERVER} is not installed: no TLS broker")
        began = time.monotonic()
        for attempt in range(1, attempts + 1):
            for stale in ("log", "mnesia"):  # a previous attempt's log would read as this one's
                shutil.rmtree(self.folder / stale, ignore_errors=True)
            if self._started(began + timeout):
                self.started_in = time.monotonic() - began
                return
            taken = self._port_taken()
            log = self.log()
            self.stop()
            if attempt == attempts or not taken:
                raise RuntimeError(f"the TLS RabbitMQ node did not start:\n{log}")
            self.port = free_port()

    def _port_taken(self) -> bool:
        # A node whose TLS listener cannot bind keeps running without it, so its log is what tells.
        logs = [*self.folder.glob("log/*.log"), self.folder / "stdout.log"]
        return any(s in p.read_text(errors="replace") for p in logs if p.exists() for s in PORT_TAKEN)

    def _started(self, deadline: float) -> bool:
        """True once the node answers; False if it exited or found a port taken first."""
        env_file = self._write_config()
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("RABBITMQ_", "ERL_"))  # the node's settings come from env_file only
        }
        env.update(HOME=str(self.folder / "home"), RABBITMQ_CONF_ENV_FILE=str(env_file))
        with open(self.folder / "stdout.log", "wb") as out:
            self.proc = subprocess.Popen(
                [str(SERVER)], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=self.folder,
                start_new_session=True,
            )  # fmt: skip
        context = self.certs.client_context()
        while not amqp_answers(self.port, context):
            if self.proc.poll() is not None or self._port_taken() or time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def connection_certificates(self) -> list[str]:
        """The subject of each open client connection's certificate ("" for a connection without one)."""
        done = subprocess.run(
            [str(SERVER.parent / "rabbitmqctl"), "-n", self.name, "-q", "--formatter", "json",
             "list_connections", "peer_cert_subject"],
            env={**os.environ, "HOME": str(self.folder / "home")},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl list_connections failed: {done.stderr.strip()}")
        return [str(row.get("peer_cert_subject") or "") for row in json.loads(done.stdout or "[]")]

    def log(self, lines: int = 20) -> str:
        """The causes the node's log gives, and the end of its console output: for a failure message."""
        causes = [
            line
            for path in sorted(self.folder.glob("log/*.log"))
            for line in path.read_text(errors="replace").splitlines()
            if any(mark in line for mark in ("reason:", "exception exit:", "Kernel pid terminated"))
        ]
        console = self.folder / "stdout.log"
        tail = console.read_text(errors="replace").splitlines()[-lines:] if console.exists() else []
        return "\n".join([*causes[:lines], *tail])

    def stop(self, timeout: float = 30.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        # The start script stops the VM it started when it gets SIGTERM, and waits for it.
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(self.pid_file.read_text().strip()), signal.SIGKILL)
            proc.kill()
            proc.wait(timeout)


@contextlib.contextmanager
def tls_broker(folder: Path, certs: Certificates) -> Iterator[TlsBroker]:
    broker = TlsBroker(folder, certs)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(folder / "mnesia", ignore_errors=True)
