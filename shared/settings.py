"""Settings from environment variables prefixed ``LANEYARD_``; one object shared by every service."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from laneyard.shared.concurrency_limits import parse_limits


def _cpu_millicores() -> int:
    return (os.cpu_count() or 1) * 1000


def _memory_mib() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError):
        return 4096


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LANEYARD_", extra="ignore")

    # TLS through the URLs: amqps://...?cafile=..., mongodb://...?tls=true&tlsCAFile=... (docs/tls.md).
    # Left out of repr(): they may hold passwords.
    amqp_url: str = Field("amqp://guest:guest@127.0.0.1:5672/", repr=False)
    mongo_url: str = Field("mongodb://127.0.0.1:27017/", repr=False)
    mongo_db: str = "laneyard"
    # Every exchange and queue name starts with this, so that two deployments (or two tests)
    # can share one broker without seeing each other's messages.
    prefix: str = "laneyard"

    # Loopback unless told otherwise: an admission without API keys refuses any other address
    # unless allow_open is set (services/admission/exposure.py).
    http_host: str = "127.0.0.1"
    allow_open: bool = False
    http_port: int = 8080
    # HTTPS for admission: a PEM certificate (chain) and its key; both unset = plain HTTP (docs/tls.md).
    http_tls_certfile: str | None = None
    http_tls_keyfile: str | None = None
    # Addresses or networks of reverse proxies whose X-Forwarded-For/-Proto admission believes
    # ("10.0.0.5,10.1.0.0/16"); empty = none, so no client can choose the address it is counted under.
    forwarded_allow_ips: str = ""
    metrics_port: int = 0  # dispatcher/runner metrics port; 0 = none

    # Upper bound for any single network await (publish, confirm, database round trip).
    network_timeout: float = 10.0
    # A service whose AMQP connection or channels stay broken this long exits (code 75) to be restarted.
    amqp_broken_exit_seconds: float = Field(20.0, gt=0)

    max_args_bytes: int = 256 * 1024
    # Admission: "key1:submit,read;key2:admin" (scopes submit, read, admin); empty = an open API.
    api_keys: str = ""
    # A file of "sha256:<hex> scope,scope" lines: keys by their digest only (`laneyard keys new`).
    api_keys_file: str | None = None
    # Signs the web console's session cookies (/ui). Unset: random at each start, so sessions end
    # with the process and replicas behind one address each refuse the others' cookies: give every
    # replica the same secret then.
    console_secret: str | None = None
    # Admission caches which clusters and throttle rates exist for this long (seconds).
    admission_cache_seconds: float = 2.0
    # Admission rates in jobs per second, "main=200,bulk=50"; changeable at run time through the API.
    lane_rates: str = ""
    cluster_rates: str = ""
    # Rates of jobs' concurrency or fairness keys, "api:stripe=5,tenant:*=20" (a * ends a prefix).
    key_rates: str = ""
    throttle_window_seconds: float = Field(0.2, gt=0, le=10)
    capacity_threshold: float = Field(0.95, gt=0, le=1)
    # Delayed requeue ladder: a job that does not fit waits delay_min_ms, doubling up to delay_max_ms.
    delay_min_ms: int = 500
    delay_max_ms: int = 30_000
    # ...but a job that waits for room (not for a runner) comes back within this: room frees up as
    # soon as running jobs end, and a long delay would leave it unused. Higher: less requeue traffic
    # for big backlogs of jobs that do not fit; lower: less idle room.
    delay_room_max_ms: int = 4_000

    heartbeat_seconds: float = 2.0
    # A runner that misses this many heartbeats is gone and its capacity is withdrawn.
    heartbeat_misses: int = 3
    # A RUNNING job this long past its max_execution_time that its runner did not stop is ended by
    # the dispatcher (reason "timeout (reaped)"), even while its runner heartbeats.
    failover_grace_seconds: float = 60.0
    # An outbox intent (a re-queue's message, written before its state change) this old whose job is
    # in the state it expects is published again: its writer died or hung between the two.
    outbox_republish_seconds: float = 5.0

    dispatcher_prefetch: int = 64
    # A job that keeps not fitting this long books the room it needs (ends starvation by small jobs).
    reservation_after_seconds: float = 60.0
    # "main=2,bulk=1": lanes with work share a cluster by these weights; lanes not named weigh 1.
    lane_weights: str = ""
    # Fairness keys (docs/fairness.md): shard queues per lane that keys hash into, the same in every
    # service; and how many messages a dispatcher takes ahead from each (bounds its memory).
    fairness_shards: int = Field(32, ge=1, le=1024)
    fairness_prefetch: int = Field(8, ge=1, le=1000)
    # Concurrency keys (docs/fairness.md): at most N jobs of a key running at once, cluster-wide,
    # "db:*=3,api:stripe=10" (a * ends a prefix); changeable at run time through the API.
    concurrency_limits: str = ""
    # How often the lease holder moves parked jobs of keys with free slots back to their lanes and
    # frees slots whose jobs no longer wait or run (a crash between taking a slot and the job).
    concurrency_sweep_seconds: float = Field(5.0, gt=0, le=3600)
    # The dispatch lease: how long a dispatcher's lease lasts without renewal (failover time).
    lease_seconds: float = 5.0
    runner_cpu_millicores: int = Field(default_factory=_cpu_millicores)
    runner_memory_mib: int = Field(default_factory=_memory_mib)
    runner_slots: int = 16
    runner_cluster: str = "default"
    runner_tasks: str = ""  # comma-separated import paths of task modules
    # The built-in demo.* tasks: laneyard up and --demo-tasks turn them on, a plain runner has none.
    runner_demo_tasks: bool = False
    runner_log_batch_lines: int = 200
    runner_log_max_lines: int = 10_000
    shutdown_grace_seconds: float = 30.0
    # A subprocess task past its time limit (or cancelled) gets SIGTERM, then SIGKILL after this.
    kill_grace_seconds: float = Field(5.0, ge=0, le=600)

    # Retention (docs/retention.md): ended jobs and their log lines are deleted this many days after
    # they end; "reports=90,tmp=1" per lane; a submission's retention_days wins over both.
    retention_days: float = Field(30.0, gt=0, le=36_500)
    lane_retention: str = ""
    dead_letter_retention_days: float = Field(30.0, gt=0, le=36_500)
    # On a server without usable TTL indexes (nx-27017), how often the lease holder deletes what expired.
    retention_sweep_seconds: float = Field(300.0, gt=0)

    # The event stream (docs/events.md): how long events are kept for a reconnect to resume from,
    # how often each admission replica reads the log's new end, its streams at most, and the
    # keep-alive comment that stops proxies closing a quiet stream.
    events_retention_seconds: float = Field(3600.0, gt=0)
    events_poll_seconds: float = Field(0.2, gt=0, le=10)
    events_max_streams: int = Field(200, ge=1)
    events_keepalive_seconds: float = Field(15.0, gt=0)

    # Completion webhooks (docs/webhooks.md). The signing secret, comma-separated while rotating
    # (the first signs, each gets a v1= value); unset: callback_url and subscriptions are refused
    # (422) and a dispatcher sends nothing. Host patterns callback URLs may name even though they
    # resolve to private, loopback or link-local addresses ("hooks.internal,*.corp.example").
    webhook_secret: str = ""
    webhook_allow: str = ""
    # Retries: base * 2^(n-1) seconds after the n-th failed attempt (with jitter), at most the cap,
    # until the give-up horizon after the job ended; each attempt gets at most timeout seconds.
    webhook_backoff_base: float = Field(10.0, gt=0)
    webhook_backoff_cap: float = Field(3600.0, gt=0)
    webhook_give_up_seconds: float = Field(86_400.0, gt=0)
    webhook_timeout: float = Field(10.0, gt=0, le=60)
    # How often the lease holder looks for due deliveries, and scans for ended jobs whose deliveries
    # a crash kept from being created (a scan of the jobs collection on nx-27017, hence rarer).
    webhook_poll_seconds: float = Field(1.0, gt=0)
    webhook_sweep_seconds: float = Field(30.0, gt=0)

    log_level: str = "INFO"
    log_json: bool | None = None  # None: JSON when stderr is not a terminal

    @field_validator("concurrency_limits")
    @classmethod
    def _limits_parse(cls, value: str) -> str:
        parse_limits(value)  # a typo refuses to start rather than silently bounding nothing
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
