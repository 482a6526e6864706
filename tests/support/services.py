"""Where the tests find RabbitMQ and MongoDB, in this order:

1. ``LANEYARD_AMQP_URL`` / ``LANEYARD_MONGO_URL``;
2. testcontainers (rabbitmq, mongo:7) when a Docker engine answers;
3. the local RabbitMQ (started with ``rabbitmq-server -detached`` if installed) and an embedded
   nx-27017 started here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from laneyard.shared.embedded.mongo import EmbeddedMongo, port_open


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (subprocess.TimeoutExpired, OSError):
        return False


def local_rabbitmq(timeout: float = 90.0) -> str:
    if not port_open("127.0.0.1", 5672):
        if shutil.which("rabbitmq-server") is None:
            raise RuntimeError(
                "no RabbitMQ: set LANEYARD_AMQP_URL, run Docker, or apt-get install rabbitmq-server"
            )
        subprocess.run(["rabbitmq-server", "-detached"], check=False)
        deadline = time.monotonic() + timeout
        while not port_open("127.0.0.1", 5672):
            if time.monotonic() > deadline:
                raise RuntimeError("the local RabbitMQ did not start")
            time.sleep(0.5)
    return "amqp://guest:guest@127.0.0.1:5672/"


@contextlib.contextmanager
def amqp_url() -> Iterator[str]:
    if url := os.environ.get("LANEYARD_AMQP_URL"):
        yield url
    elif docker_answers():
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:3.13-management") as rabbit:
            host, port = rabbit.get_container_host_ip(), rabbit.get_exposed_port(rabbit.port)
            yield f"amqp://guest:guest@{host}:{port}/"
    else:
        yield local_rabbitmq()


@contextlib.contextmanager
def mongo_url(tmp: Path) -> Iterator[str]:
    if url := os.environ.get("LANEYARD_MONGO_URL"):
        yield url
    elif docker_answers():
        from testcontainers.mongodb import MongoDbContainer

        with MongoDbContainer("mongo:7") as mongo:
            yield mongo.get_connection_url()
    else:
        server = EmbeddedMongo(tmp / "nx-27017")
        try:
            yield server.start()
        finally:
            server.stop()
