"""``laneyard``: one subcommand per service, ``up`` for the whole stack, a demo workload, and the
operator commands (submit, jobs, job, logs, cancel, status, top, clusters, lanes, rates, fairness,
concurrency, dlq, keys, schedules) that talk to admission's HTTP API, and ``broker-users``, the RabbitMQ users
each service runs as."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from laneyard.services.cli import (
    broker_users_cmd,
    clusters_cmd,
    concurrency_cmd,
    dlq_cmd,
    exit_codes,
    fairness_cmd,
    jobs_cmd,
    keys_cmd,
    lanes_cmd,
    logs_cmd,
    rates_cmd,
    schedules_cmd,
    status_cmd,
    top,
    webhooks_cmd,
)
from laneyard.shared.settings import get_settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Laneyard, a distributed job scheduler.",
    epilog=exit_codes.help_table(),
)
jobs_cmd.register(app)
logs_cmd.register(app)
status_cmd.register(app)
top.register(app)
broker_users_cmd.register(app)
app.add_typer(clusters_cmd.app, name="clusters")
app.add_typer(concurrency_cmd.app, name="concurrency")
app.add_typer(dlq_cmd.app, name="dlq")
app.add_typer(fairness_cmd.app, name="fairness")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(lanes_cmd.app, name="lanes")
app.add_typer(rates_cmd.app, name="rates")
app.add_typer(schedules_cmd.app, name="schedules")
app.add_typer(webhooks_cmd.app, name="webhooks")


@app.command()
def admission(
    port: Annotated[int | None, typer.Option(help="HTTP port (LANEYARD_HTTP_PORT)")] = None,
) -> None:
    """Run the admission service: HTTP API and AMQP ingress."""
    from laneyard.services.admission.main import main

    settings = get_settings()
    if port is not None:
        settings = settings.model_copy(update={"http_port": port})
    main(settings)


@app.command()
def dispatcher() -> None:
    """Run a dispatcher: capacity-gated dispatch from lanes to clusters."""
    from laneyard.services.dispatcher.main import main

    main(get_settings())


@app.command()
def runner(
    cluster: Annotated[str | None, typer.Option(help="cluster slug to serve")] = None,
    tasks: Annotated[str | None, typer.Option(help="comma-separated modules that register tasks")] = None,
    slots: Annotated[int | None, typer.Option(help="tasks run at once at most")] = None,
    cpu: Annotated[int | None, typer.Option(help="CPU offered, millicores")] = None,
    memory: Annotated[int | None, typer.Option(help="memory offered, MiB")] = None,
    demo_tasks: Annotated[
        bool, typer.Option("--demo-tasks", help="also run the built-in demo.* tasks (off unless asked)")
    ] = False,
) -> None:
    """Run a runner for one cluster: it runs only the tasks its --tasks modules register."""
    from laneyard.services.runner.main import main

    update = {
        "runner_cluster": cluster,
        "runner_tasks": tasks,
        "runner_slots": slots,
        "runner_cpu_millicores": cpu,
        "runner_memory_mib": memory,
        "runner_demo_tasks": True if demo_tasks else None,
    }
    settings = get_settings().model_copy(update={k: v for k, v in update.items() if v is not None})
    main(settings)


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="also run a demo workload and show it flowing")] = True,
    runners: Annotated[int, typer.Option(min=1, max=16, help="runner processes")] = 1,
    data_dir: Annotated[str, typer.Option(help="where the embedded MongoDB keeps its files")] = ".laneyard",
) -> None:
    """Start everything locally: embedded MongoDB-wire server, local RabbitMQ, the services. Ctrl-C stops."""
    from laneyard.services.cli.up import run_stack

    raise typer.Exit(run_stack(get_settings(), demo=demo, runners=runners, data_dir=data_dir))


@app.command("demo")
def demo_workload(
    url: Annotated[str, typer.Option(help="admission base URL")] = "",
    rate: Annotated[float, typer.Option(min=0.1, help="jobs submitted per second")] = 20.0,
    total: Annotated[int, typer.Option(min=0, help="jobs to submit; 0 = until Ctrl-C")] = 0,
) -> None:
    """Submit a mix of demo jobs and show them flowing to completion."""
    from laneyard.services.cli.demo import run_demo

    base = url or os.environ.get("LANEYARD_URL") or f"http://127.0.0.1:{get_settings().http_port}"
    raise typer.Exit(run_demo(base, rate=rate, total=total))
