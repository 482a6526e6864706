"""The console's decisions: sessions and CSRF, what a key may do, filters, throughput, the
sub-task tree, forms and the retry's submission."""

from __future__ import annotations

import pytest

from laneyard.services.admission.console import session
from laneyard.services.admission.console.access import allowed, permissions
from laneyard.services.admission.console.filters import BadFilter, job_query, parse_filters
from laneyard.services.admission.console.formatting import age, iso, percent
from laneyard.services.admission.console.forms import BadForm, parse_form, parse_rate
from laneyard.services.admission.console.throughput import per_minute
from laneyard.services.admission.console.tree import build_tree
from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.grants import Grant
from laneyard.services.admission.retrying import retry_key, submission_from_job

SECRET = b"s" * 32


def test_a_sealed_session_opens_only_with_its_secret_unchanged_and_unexpired() -> None:
    s = session.new_session(session.key_id(SECRET, b"d" * 32), now=1000.0)
    sealed = session.seal(s, SECRET)
    assert session.unseal(sealed, SECRET, 1001.0) == s
    assert session.unseal(sealed, b"other" * 8, 1001.0) is None
    assert session.unseal(sealed, SECRET, 1000.0 + session.MAX_AGE_SECONDS + 1) is None
    body, _, sig = sealed.rpartition(".")
    assert session.unseal(body + "x." + sig, SECRET, 1001.0) is None
    for junk in (None, "", "no-dot", "a" * 2000, "!!!.abc"):
        assert session.unseal(junk, SECRET, 1001.0) is None
    assert "d" * 8 not in sealed  # the key's digest is not in the cookie, only a keyed hash of it


def test_csrf_needs_the_sessions_own_token() -> None:
    s = session.new_session("", 0.0)
    assert session.csrf_ok(s, s.csrf)
    assert not session.csrf_ok(s, None) and not session.csrf_ok(s, "") and not session.csrf_ok(s, "x")
    assert not session.csrf_ok(None, s.csrf)


def test_scopes_decide_the_buttons_and_the_changes() -> None:
    read = Grant(frozenset({"read"}))
    assert permissions(read).read and not permissions(read).submit
    assert not allowed(read, "cancel") and not allowed(read, "replay")
    submit = Grant(frozenset({"submit", "read"}))
    assert allowed(submit, "cancel") and allowed(submit, "schedule") and not allowed(submit, "cluster")
    assert all(allowed(Grant.everything(), a) for a in ("cancel", "retry", "replay", "cluster", "rate"))


def test_filters_are_checked_and_narrowed_to_the_grant() -> None:
    f = parse_filters({"state": "ERROR", "label": "team:a, env:prod", "task": "a.b", "range": "1h"})
    assert f.labels == {"team": "a", "env": "prod"}
    query = job_query(f, Grant(frozenset({"read"}), lanes=frozenset({"x"})), now=10_000.0)
    assert query["state"] == "ERROR" and query["task"] == "a.b" and query["labels.env"] == "prod"
    assert query["created_at"] == {"$gte": 10_000.0 - 3600} and query["lane"] == {"$in": ["x"]}
    assert parse_filters({"lane": "x"}).params(cursor="c") == {"lane": "x", "cursor": "c"}
    for bad in ({"state": "NOPE"}, {"label": "nocolon"}, {"lane": "Bad Lane"}, {"range": "2y"}):
        with pytest.raises(BadFilter):
            parse_filters(bad)
    with pytest.raises(BadFilter):
        job_query(parse_filters({"lane": "y"}), Grant(frozenset({"read"}), lanes=frozenset({"x"})), 0.0)


def test_throughput_is_counted_per_minute_oldest_first() -> None:
    minutes = per_minute(
        [("COMPLETED", 995.0), ("ERROR", 930.0), ("COMPLETED", 100.0)], now=1000.0, minutes=3
    )
    assert [(m.ago, m.completed, m.failed) for m in minutes] == [(2, 0, 0), (1, 0, 1), (0, 1, 0)]


def test_the_subtask_tree_follows_children_in_order_and_stops_at_a_repeat() -> None:
    root = {"_id": "r", "children": {"b": {"at": 2}, "a": {"at": 1}}}
    docs = {"a": {"_id": "a", "state": "COMPLETED", "children": {"r": {"at": 1}}}}
    tree = build_tree(root, docs)
    assert [c.id for c in tree.children] == ["a", "b"]
    assert tree.children[0].children == [] and tree.children[1].state is None


def test_forms_and_rates() -> None:
    assert parse_form(b"csrf=x&name=GPU+Farm") == {"csrf": "x", "name": "GPU Farm"}
    for body in (b"a" * 20_000, b"\xff\xfe", "&".join(f"f{i}=1" for i in range(60)).encode()):
        with pytest.raises(BadForm):
            parse_form(body)
    assert parse_rate("lane", "main", "2.5") == 2.5 and parse_rate("cluster", "gpu-1", "") is None
    for kind, name, raw in (
        ("x", "main", "1"),
        ("lane", "Main", "1"),
        ("lane", "m", "nan"),
        ("lane", "m", "-1"),
    ):
        with pytest.raises(ValueError):
            parse_rate(kind, name, raw)


def test_times_ages_and_percentages() -> None:
    assert iso(0) == "1970-01-01T00:00:00Z" and iso(None) == "" and iso("junk") == ""
    assert (age(None), age(5), age(125), age(7300), age(90000)) == ("-", "5s", "2m 05s", "2h 01m", "1d 01h")
    assert (percent(1, 4), percent(5, 0), percent(9, 4)) == (25, 0, 100)


def test_a_retry_resubmits_the_jobs_fields_under_its_own_key() -> None:
    doc = {"_id": "j", "task": "t.x", "args": {"a": 1}, "lane": "main", "cluster": "default",
           "priority": 7, "tier": "TINY", "max_retries": 2, "labels": {"k": "v"}}  # fmt: skip
    sub = submission_from_job(doc, retry_key("j", "n"))
    assert (sub.task, sub.args, sub.priority, sub.max_retries, sub.idempotency_key) == (
        "t.x", {"a": 1}, 7, 2, "retry:j:n",
    )  # fmt: skip
    with pytest.raises(Rejected):
        submission_from_job({**doc, "priority": 99}, "k")
