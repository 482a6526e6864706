"""The webhook decisions: retry times, what is delivered to whom, and which URLs are accepted."""

from __future__ import annotations

import json

from laneyard.shared.webhooks import payload
from laneyard.shared.webhooks.config import NOT_CONFIGURED, WebhookConfig, url_refusal
from laneyard.shared.webhooks.outbox import delivery_docs
from laneyard.shared.webhooks.retries import Outcome, Policy, after_attempt, next_attempt_at, retry_delay

POLICY = Policy(base=10.0, cap=3600.0, give_up=86_400.0)
JOB = {
    "_id": "j1", "task": "demo.echo", "lane": "main", "cluster": "default", "state": "COMPLETED",
    "attempt": 1, "result": {"ok": True}, "callback_url": "https://hooks.example.com/x", "created_at": 100.0,
    "timeline": {"1": {"IN_QUEUE": 100.0, "RUNNING": 101.0, "COMPLETED": 103.5}},
}  # fmt: skip


def test_retries_double_from_the_base_up_to_the_cap_with_bounded_jitter() -> None:
    assert retry_delay(1, 10, 3600, 0.5) == 10
    assert retry_delay(3, 10, 3600, 0.5) == 40
    assert retry_delay(40, 10, 3600, 0.5) == 3600
    assert retry_delay(1, 10, 3600, 0.0) == 8
    assert retry_delay(1, 10, 3600, 0.999) < 12


def test_a_delivery_is_given_up_past_the_horizon() -> None:
    assert next_attempt_at(1000.0, 1, 1000.0, 10, 3600, 86_400, 0.5) == 1010.0
    assert next_attempt_at(1000.0 + 86_000, 30, 1000.0, 10, 3600, 86_400, 0.5) is None


def test_after_an_attempt() -> None:
    ok = after_attempt(Outcome(status=204), failures_before=0, first_due=0, now=5, policy=POLICY, jitter=0.5)
    assert ok["state"] == "delivered"
    refused = after_attempt(
        Outcome(refused="no"), failures_before=0, first_due=0, now=5, policy=POLICY, jitter=0
    )
    assert refused == {"state": "refused", "last_error": "no"}
    again = after_attempt(
        Outcome(status=500), failures_before=1, first_due=0, now=5, policy=POLICY, jitter=0.5
    )
    assert again == {"next_at": 25.0, "last_error": "HTTP 500"}
    redirect = after_attempt(
        Outcome(status=302), failures_before=0, first_due=0, now=5, policy=POLICY, jitter=0.5
    )
    assert "redirects are not followed" in redirect["last_error"]
    late = after_attempt(
        Outcome(error="timeout"), failures_before=9, first_due=0, now=86_390, policy=POLICY, jitter=0.5
    )
    assert late == {"state": "failed", "last_error": "timeout"}


def test_targets_are_the_callback_and_the_matching_subscriptions() -> None:
    subs = [
        {"_id": "s1", "url": "https://a.example/", "lane": "main", "cluster": None, "events": ["COMPLETED"]},
        {"_id": "s2", "url": "https://b.example/", "lane": "main", "cluster": "gpu", "events": ["COMPLETED"]},
        {"_id": "s3", "url": "https://c.example/", "lane": "main", "cluster": None, "events": ["ERROR"]},
        {"_id": "s4", "url": "https://d.example/", "lane": "bulk", "cluster": None, "events": ["COMPLETED"]},
    ]
    found = payload.targets_for(JOB, subs)
    assert [t.source for t in found] == ["callback_url", "subscription:s1"]


def test_delivery_ids_are_the_same_for_the_same_job_and_target() -> None:
    first = [d["_id"] for d in delivery_docs(JOB, [], now=1.0)]
    again = [d["_id"] for d in delivery_docs(JOB, [], now=2.0)]
    assert first == again and len(first) == 1
    other = delivery_docs({**JOB, "_id": "j2"}, [], now=1.0)
    assert other[0]["_id"] != first[0]


def test_the_body_says_the_outcome_and_timings() -> None:
    body = json.loads(payload.body(JOB, "whd_1"))
    assert body["id"] == "j1" and body["state"] == "COMPLETED" and body["result"] == {"ok": True}
    assert body["delivery_id"] == "whd_1" and "error" not in body
    assert body["timings"]["started_at"].endswith("Z")
    failed = json.loads(
        payload.body({**JOB, "state": "ERROR", "error": "boom", "reason": "task failed"}, "x")
    )
    assert failed["error"] == "boom" and "result" not in failed


def test_callback_urls_are_refused_without_a_secret_or_to_private_addresses() -> None:
    assert url_refusal("https://hooks.example.com/", WebhookConfig()) == NOT_CONFIGURED
    on = WebhookConfig(secrets=("s",))
    assert url_refusal("https://hooks.example.com/", on) is None
    assert "private" in str(url_refusal("http://10.0.0.1/", on))
    assert "link-local" in str(url_refusal("http://169.254.169.254/latest", on))
    assert "http" in str(url_refusal("ftp://hooks.example.com/", on))
    assert url_refusal("http://127.0.0.1:9/", WebhookConfig(secrets=("s",), allow=("127.0.0.1",))) is None
