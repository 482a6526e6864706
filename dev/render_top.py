"""Renders docs/top.png: one frame of ``laneyard top`` over a real stack running a demo workload.

    python dev/render_top.py [--out docs/top.png] [--width 110] [--keep-svg]

Starts an embedded MongoDB-wire server (nx-27017), uses the local RabbitMQ, runs admission, a
dispatcher and runners on two clusters as processes, keeps a mixed demo workload flowing through
the public API for a few seconds, then draws the frame with rich (``Console(record=True)`` ->
SVG) and has headless Chromium turn the SVG into a PNG (``apt-get install -y chromium``).
Everything it made (queues, exchanges, the database, the processes) is removed when it ends.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import aio_pika
import httpx
from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from laneyard.services.cli import top  # noqa: E402
from laneyard.services.cli.api_client import ApiClient  # noqa: E402
from laneyard.services.cli.up import ensure_rabbitmq  # noqa: E402
from laneyard.shared.amqp.topology import Names  # noqa: E402
from laneyard.shared.embedded.mongo import EmbeddedMongo, free_port  # noqa: E402
from laneyard.shared.settings import Settings  # noqa: E402
from tests.conftest import delete_topology  # noqa: E402
from tests.support.stack import Stack  # noqa: E402

LANES = ("main", "logs", "bulk")
WARMUP_SECONDS = 12.0


def workload(url: str, gpu: str, stop: threading.Event) -> None:
    """A steady mix faster than the runners drain it, so lanes show a backlog and runners are busy."""
    rng = random.Random(3)
    with httpx.Client(base_url=url, timeout=10) as client:
        while not stop.is_set():
            for _ in range(6):
                lane = rng.choice(LANES)
                seconds = rng.choice([0.5, 1.0, 2.0, 3.0])
                tier = rng.choice(["TINY", "XSMALL", "SMALL"])
                body: dict[str, object] = {
                    "task": "demo.sleep",
                    "args": {"seconds": seconds},
                    "lane": lane,
                    "tier": tier,
                }
                if rng.random() < 0.3:
                    body.update(cluster=gpu, tier="MEDIUM")
                if rng.random() < 0.25:
                    body = {"task": "demo.noop", "lane": lane, "tier": "TINY"}
                client.post("/v1/jobs", json=body)
            time.sleep(0.25)


def frame_svg(url: str, width: int) -> str:
    history = top.History()
    with ApiClient(url, None) as client:
        # A few samples first, so the sparkline has a history as it would in a live session.
        for _ in range(8):
            history.add(top.fetch(client))
            time.sleep(1.0)
        sample = top.fetch(client)
        history.add(sample)
    console = Console(
        record=True, width=width, file=io.StringIO(), force_terminal=True, color_system="truecolor"
    )
    console.print(top.frame(sample, "http://127.0.0.1:8080", history, live=True))
    return console.export_svg(title="laneyard top")


def svg_to_png(svg: str, out: Path, keep_svg: bool) -> None:
    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if browser is None:
        raise SystemExit("no Chromium found: apt-get install -y chromium")
    found = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)
    if found is None:
        raise SystemExit("the SVG has no viewBox")
    width, height = (int(float(v)) + 1 for v in found.groups())
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "top.html"
        page.write_text(f'<html><body style="margin:0;background:#fff">{svg}</body></html>')
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--window-size={width},{height}", f"--screenshot={out.resolve()}", page.as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    if keep_svg:
        out.with_suffix(".svg").write_text(svg)


async def delete_cluster_queue(settings: Settings, slug: str) -> None:
    connection = await aio_pika.connect(settings.amqp_url, timeout=settings.network_timeout)
    try:
        names = Names(settings.prefix)
        for name in [names.cluster_queue(slug), *(names.lane_queue(lane, slug) for lane in LANES)]:
            channel = await connection.channel()
            try:
                await channel.queue_delete(name)
            except aio_pika.exceptions.ChannelClosed:
                pass
    finally:
        await connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "top.png")
    parser.add_argument("--width", type=int, default=110, help="terminal columns")
    parser.add_argument("--keep-svg", action="store_true", help="also write the SVG next to the PNG")
    opts = parser.parse_args()

    tag = f"top{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            prefix=tag, mongo_db=tag, http_host="127.0.0.1", http_port=free_port(), heartbeat_seconds=0.5,
            delay_min_ms=100, delay_max_ms=1600, shutdown_grace_seconds=5, log_json=True,
            runner_demo_tasks=True,
        )  # fmt: skip
        ensure_rabbitmq(settings.amqp_url)
        mongo = EmbeddedMongo(Path(tmp) / "mongo")
        settings = settings.model_copy(update={"mongo_url": mongo.start()})
        stack = Stack(settings, Path(tmp))
        stop = threading.Event()
        gpu = ""
        try:
            stack.add("admission"), stack.add("dispatcher")
            stack.wait_ready()
            gpu = httpx.post(f"{stack.url}/v1/clusters", json={"name": "gpu farm"}, timeout=10).json()["slug"]
            stack.add("runner", "--slots", "6", "--cpu", "2000", "--memory", "4096")
            stack.add("runner", "--slots", "6", "--cpu", "2000", "--memory", "4096")
            stack.add("runner", "--cluster", gpu, "--slots", "4", "--cpu", "4000", "--memory", "8192")
            feeder = threading.Thread(target=workload, args=(stack.url, gpu, stop), daemon=True)
            feeder.start()
            time.sleep(WARMUP_SECONDS - 8)
            svg = frame_svg(stack.url, opts.width)
            opts.out.parent.mkdir(parents=True, exist_ok=True)
            svg_to_png(svg, opts.out, opts.keep_svg)
            print(f"wrote {opts.out}")
        finally:
            stop.set()
            stack.stop()
            asyncio.run(delete_topology(settings, lanes=tuple((lane, "default") for lane in LANES)))
            if gpu:
                asyncio.run(delete_cluster_queue(settings, gpu))
            mongo.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
