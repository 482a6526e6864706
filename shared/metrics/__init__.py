"""Prometheus metrics, one module per service family, all named ``laneyard_*``.

Conventions (https://prometheus.io/docs/practices/naming/): counters end in ``_total``, durations
are histograms in ``_seconds``, sizes are in base units (``_cores``, ``_bytes``). Metrics live in
prometheus_client's default registry, so a process exports the families of every module it imports
(the dispatcher also admits scheduled jobs, so it exports admission's counters too). Each service
serves them at ``/metrics``: admission on its HTTP port, dispatcher and runner on
``settings.metrics_port`` (see ``shared.metrics.server``).

Labels stay low-cardinality: lane, cluster, task name, state, a short reason; never a job id.
"""
