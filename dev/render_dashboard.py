"""Draws docs/dashboard.png: the Grafana dashboard of compose/, with real data, without Grafana.

Grafana is not packaged for Debian, so this renders the provisioned dashboard JSON itself: it runs
the three services (one admission, one dispatcher, two runners) against the local RabbitMQ and an
embedded MongoDB-wire server, drives a real workload through them for a few minutes, has a real
Prometheus (Debian's ``prometheus`` package) scrape every service's /metrics, evaluates each
panel's own PromQL through Prometheus' query_range API, and draws every panel (title, series,
legend) into an HTML page of inline SVG laid out on Grafana's 24-column grid. Headless Chromium
turns the page into the PNG.

    apt-get install -y prometheus chromium
    .venv/bin/python dev/render_dashboard.py [--seconds 180] [--out docs/dashboard.png]
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from laneyard.shared.embedded.mongo import free_port, port_open  # noqa: E402
from laneyard.shared.settings import Settings  # noqa: E402
from tests.support import services  # noqa: E402
from tests.support.stack import Stack  # noqa: E402

DASHBOARD = ROOT / "compose" / "grafana" / "dashboards" / "laneyard.json"
COLORS = ["#73BF69", "#F2CC0C", "#8AB8FF", "#FF780A", "#F2495C", "#B877D9", "#5794F2", "#FADE2A", "#96D98D"]
ROW_PX, COL_PX, GAP = 30, 1400 / 24, 6
Series = list[tuple[str, list[tuple[float, float]]]]


# --- the workload -------------------------------------------------------------------------------

STEADY = [
    (0.35, {"task": "demo.noop", "tier": "TINY"}),
    (0.25, {"task": "demo.sleep", "args": {"seconds": 0.3}, "tier": "SMALL"}),
    (0.15, {"task": "demo.log", "args": {"lines": 5}, "tier": "TINY", "lane": "logs"}),
    (0.15, {"task": "demo.echo", "args": {"hello": "world"}, "tier": "XSMALL", "priority": 8}),
    (0.10, {"task": "demo.fail", "tier": "TINY", "max_retries": 1, "retry_backoff": 0.5}),
]


def pick(rng: random.Random) -> dict[str, Any]:
    r = rng.random()
    for weight, body in STEADY:
        if r < weight:
            return body
        r -= weight
    return STEADY[0][1]


async def workload(url: str, seconds: float) -> dict[str, int]:
    """A steady mix at 12 jobs/s; a burst of long MEDIUM jobs in the middle that fills the clusters
    and builds a backlog; now and then a duplicate, a rejected and a timing-out job."""
    rng = random.Random(6)
    sent: dict[str, int] = {}
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        tick = 0
        while (elapsed := time.monotonic() - started) < seconds:
            bodies = [pick(rng) for _ in range(int((tick + 1) * 1.2) - int(tick * 1.2))]
            if seconds * 0.35 <= elapsed < seconds * 0.5 and tick % 4 == 0:
                bodies.append(
                    {"task": "demo.sleep", "args": {"seconds": 6}, "tier": "MEDIUM", "lane": "batch"}
                )
            if tick % 40 == 0:
                bodies.append({"task": "demo.noop", "idempotency_key": f"k{tick // 80}"})
                bodies.append({"task": "demo.noop", "cluster": "nowhere"})
                bodies.append({"task": "demo.sleep", "args": {"seconds": 5}, "max_execution_time": 0.5})
            replies = await asyncio.gather(
                *(client.post("/v1/jobs", json={"tier": "TINY", **b}) for b in bodies), return_exceptions=True
            )
            for reply in replies:
                key = str(reply.status_code) if isinstance(reply, httpx.Response) else type(reply).__name__
                sent[key] = sent.get(key, 0) + 1
            tick += 1
            await asyncio.sleep(max(0.0, started + tick / 10 - time.monotonic()))
    return sent


# --- Prometheus ---------------------------------------------------------------------------------


def prometheus_config(targets: dict[str, list[str]]) -> str:
    jobs = "\n".join(
        f"  - job_name: {name}\n    static_configs:\n      - targets: {json.dumps(addrs)}"
        for name, addrs in targets.items()
    )
    return f"global:\n  scrape_interval: 2s\n  evaluation_interval: 2s\nscrape_configs:\n{jobs}\n"


def query_range(prom: str, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
    expr = expr.replace("$cluster", ".*").replace("$lane", ".*")
    reply = httpx.get(
        f"{prom}/api/v1/query_range",
        params={"query": expr, "start": start, "end": end, "step": step},
        timeout=30,
    )
    reply.raise_for_status()
    result: list[dict[str, Any]] = reply.json()["data"]["result"]
    return result


def legend(fmt: str, labels: dict[str, str]) -> str:
    out = fmt
    for key, value in labels.items():
        out = out.replace("{{" + key + "}}", value)
    return out.replace("{{", "").replace("}}", "") or json.dumps(labels)


def collect(prom: str, dashboard: dict[str, Any], start: float, end: float) -> dict[int, Series]:
    step = max(2.0, (end - start) / 150)
    data: dict[int, Series] = {}
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        series: Series = []
        for target in panel["targets"]:
            for result in query_range(prom, target["expr"], start, end, step):
                points = [
                    (float(t), float(v)) for t, v in result["values"] if v not in ("NaN", "+Inf", "-Inf")
                ]
                series.append((legend(target.get("legendFormat", ""), result["metric"]), points))
        data[panel["id"]] = series
    return data


# --- drawing ------------------------------------------------------------------------------------


def fmt(value: float, unit: str) -> str:
    if unit == "percentunit":
        return f"{value * 100:.0f}%"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"
    if unit == "ops":
        return f"{value:.2g}/s" if value < 10 else f"{value:.0f}/s"
    if unit == "bytes":
        return f"{value / 2**30:.1f} GiB"
    return f"{value:.3g}"


def svg_chart(
    series: Series, unit: str, width: float, height: float, start: float, end: float, top: float | None
) -> str:
    left, right, up, down = 58, 8, 8, 20
    w, h = width - left - right, height - up - down
    peak = max((v for _, pts in series for _, v in pts), default=0.0)
    ymax = top if top is not None else (peak * 1.15 or 1.0)
    parts = [f'<svg width="{width:.0f}" height="{height:.0f}" xmlns="http://www.w3.org/2000/svg">']
    for i in range(5):
        y = up + h - h * i / 4
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#2c3235"/>')
        tick = fmt(ymax * i / 4, unit)
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{tick}</text>')
    for i in range(5):
        t = start + (end - start) * i / 4
        x = left + w * i / 4
        label = time.strftime("%H:%M:%S", time.localtime(t))
        anchor = ("start", "middle", "middle", "middle", "end")[i]
        parts.append(f'<text x="{x:.1f}" y="{height - 4}" text-anchor="{anchor}" class="tick">{label}</text>')
    for n, (_, pts) in enumerate(series):
        if not pts:
            continue
        color = COLORS[n % len(COLORS)]
        xy = [(left + w * (t - start) / (end - start), up + h - h * min(v, ymax) / ymax) for t, v in pts]
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        area = f"{xy[0][0]:.1f},{up + h:.1f} {line} {xy[-1][0]:.1f},{up + h:.1f}"
        parts.append(f'<polygon points="{area}" fill="{color}" fill-opacity="0.08"/>')
        parts.append(f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="1.6"/>')
    parts.append("</svg>")
    return "".join(parts)


def render_panel(panel: dict[str, Any], series: Series, start: float, end: float) -> str:
    grid = panel["gridPos"]
    x, y = grid["x"] * COL_PX, grid["y"] * ROW_PX
    width, height = grid["w"] * COL_PX - GAP, grid["h"] * ROW_PX - GAP
    unit = panel["fieldConfig"]["defaults"].get("unit", "short")
    title = html.escape(panel["title"])
    style = f"left:{x:.0f}px;top:{y:.0f}px;width:{width:.0f}px;height:{height:.0f}px"
    if panel["type"] == "stat":
        cells = "".join(
            f'<div class="stat"><div class="big" style="color:{COLORS[n % len(COLORS)]}">'
            f"{fmt(pts[-1][1], unit) if pts else '-'}</div><div>{html.escape(name)}</div></div>"
            for n, (name, pts) in enumerate(series)
        )
        return f'<div class="panel" style="{style}"><div class="title">{title}</div>{cells}</div>'
    legend_px = 18 * ((len(series) + 2) // 3)
    chart = svg_chart(
        series, unit, width - 2, height - 30 - legend_px, start, end,
        panel["fieldConfig"]["defaults"].get("max"),
    )  # fmt: skip
    keys = "".join(
        f'<span><i style="background:{COLORS[n % len(COLORS)]}"></i>{html.escape(name)}</span>'
        for n, (name, _) in enumerate(series)
    )
    if not series:
        keys = '<span class="none">no data in this run</span>'
    body = f'<div class="title">{title}</div>{chart}<div class="legend">{keys}</div>'
    return f'<div class="panel" style="{style}">{body}</div>'


def render_page(dashboard: dict[str, Any], data: dict[int, Series], start: float, end: float) -> str:
    blocks = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            y = panel["gridPos"]["y"] * ROW_PX
            blocks.append(f'<div class="row" style="top:{y + 6}px">{html.escape(panel["title"])}</div>')
        else:
            blocks.append(render_panel(panel, data.get(panel["id"], []), start, end))
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dashboard["panels"]) * ROW_PX
    span = (
        time.strftime("%H:%M:%S", time.localtime(start))
        + " - "
        + time.strftime("%H:%M:%S", time.localtime(end))
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
body {{ margin:0; background:#111217; color:#ccccdc; font:12px Inter, 'DejaVu Sans', sans-serif; }}
header {{ padding:10px 14px; font-size:17px; color:#fff; border-bottom:1px solid #2c3235; }}
header small {{ color:#8e8e8e; font-size:12px; margin-left:12px; }}
.grid {{ position:relative; margin:8px; height:{bottom}px; }}
.panel {{ position:absolute; box-sizing:border-box; background:#181b1f; border:1px solid #2c3235;
  border-radius:3px; overflow:hidden; }}
.title {{ padding:6px 8px 2px; font-weight:600; color:#fff; font-size:12.5px; }}
.row {{ position:absolute; left:0; font-size:14px; font-weight:600; color:#fff; }}
.tick {{ fill:#8e8e8e; font-size:10px; font-family:'DejaVu Sans', sans-serif; }}
.legend {{ padding:0 8px; line-height:18px; }}
.legend span {{ margin-right:12px; white-space:nowrap; }}
.legend i {{ display:inline-block; width:12px; height:3px; margin:0 4px 3px 0; vertical-align:middle; }}
.none {{ color:#8e8e8e; }}
.stat {{ display:inline-block; padding:8px 14px; text-align:center; }}
.big {{ font-size:40px; font-weight:600; }}
</style></head><body>
<header>Laneyard <small>cluster: All &nbsp; lane: All &nbsp; {span} &nbsp;
(compose/grafana/dashboards/laneyard.json, real data via Prometheus; drawn by dev/render_dashboard.py)</small>
</header>
<div class="grid">{"".join(blocks)}</div></body></html>"""


# --- main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="how long the workload runs")
    parser.add_argument("--out", default=str(ROOT / "docs" / "dashboard.png"))
    args = parser.parse_args()
    prometheus, chromium = (
        shutil.which("prometheus"),
        shutil.which("chromium") or shutil.which("chromium-browser"),
    )
    if prometheus is None or chromium is None:
        print("needs prometheus and chromium: apt-get install -y prometheus chromium", file=sys.stderr)
        return 1
    dashboard = json.loads(DASHBOARD.read_text())
    tmp = Path(tempfile.mkdtemp(prefix="laneyard-dashboard-"))
    with ExitStack() as stack_exit:
        amqp = stack_exit.enter_context(services.amqp_url())
        mongo = stack_exit.enter_context(services.mongo_url(tmp))
        tag = f"dash{uuid.uuid4().hex[:8]}"
        settings = Settings(
            amqp_url=amqp, mongo_url=mongo, mongo_db=tag, prefix=tag, http_host="127.0.0.1",
            http_port=free_port(), heartbeat_seconds=1.0, lane_rates="logs=2", log_json=True,
            delay_min_ms=250, delay_max_ms=4000, runner_demo_tasks=True,
        )  # fmt: skip
        stack = Stack(settings, tmp)
        dispatcher_port, runner_ports = free_port(), [free_port(), free_port()]
        stack.add("admission")
        stack.add("dispatcher", LANEYARD_METRICS_PORT=str(dispatcher_port))
        for port in runner_ports:
            stack.add(
                "runner", "--slots", "6", "--cpu", "3000", "--memory", "6144", LANEYARD_METRICS_PORT=str(port)
            )
        stack_exit.callback(stack.stop)
        stack.wait_ready()
        time.sleep(1.0)
        # A port taken between choosing and binding it would have another process answer for ours.
        dead = [s.name for s in stack.services if s.proc is None or s.proc.poll() is not None]
        if dead:
            print(f"{dead} exited at start; see {tmp}", file=sys.stderr)
            return 1

        targets = {
            "admission": [f"127.0.0.1:{settings.http_port}"],
            "dispatcher": [f"127.0.0.1:{dispatcher_port}"],
            "runner": [f"127.0.0.1:{p}" for p in runner_ports],
        }
        if port_open("127.0.0.1", 15692):  # the local broker's rabbitmq_prometheus, if enabled
            targets["rabbitmq"] = ["127.0.0.1:15692"]
        (tmp / "prometheus.yml").write_text(prometheus_config(targets))
        prom_port = free_port()
        prom = subprocess.Popen(
            [prometheus, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=(tmp / "prometheus.log").open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        stack_exit.callback(prom.wait, 20)
        stack_exit.callback(prom.terminate)
        prom_url = f"http://127.0.0.1:{prom_port}"
        while not port_open("127.0.0.1", prom_port):
            time.sleep(0.2)

        start = time.time()
        print(f"workload for {args.seconds:.0f} s against {stack.url}", flush=True)
        sent = asyncio.run(workload(stack.url, args.seconds))
        time.sleep(8)  # let the last jobs finish and be scraped
        end = time.time()
        print(f"submissions by HTTP status: {sent}", flush=True)
        data = collect(prom_url, dashboard, start, end)
        empty = [p["title"] for p in dashboard["panels"] if p["type"] != "row" and not data.get(p["id"])]
        print(f"panels without data: {empty or 'none'}", flush=True)

    page = tmp / "dashboard.html"
    page.write_text(render_page(dashboard, data, start, end))
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in dashboard["panels"]) * ROW_PX + 60
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--screenshot={out}", f"--window-size=1416,{bottom:.0f}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    print(f"wrote {out} (page {page})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
