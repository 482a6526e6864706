"""Key grants: scopes, and the lanes and clusters a key is limited to."""

from __future__ import annotations

import pytest

from laneyard.services.admission.grants import Grant, parse_grant


def test_an_unlimited_key_covers_every_lane_and_cluster() -> None:
    grant = parse_grant("submit,read", "entry 1")
    assert grant == Grant(frozenset({"submit", "read"})) and not grant.limited
    assert grant.covers("any", "where") and grant.job_filter() == {}
    assert grant.has("read") and not grant.has("admin")
    assert Grant.everything().has("submit") and Grant.everything().has("admin")


def test_a_limited_key_covers_only_its_lanes_of_its_clusters() -> None:
    grant = parse_grant("submit,read  lanes=reports,etl clusters=gpu-farm-3kq9", "entry 1")
    assert grant.limited and grant.lanes == {"reports", "etl"} and grant.clusters == {"gpu-farm-3kq9"}
    assert grant.covers("reports", "gpu-farm-3kq9") and grant.covers("etl", "gpu-farm-3kq9")
    assert not grant.covers("reports", "default") and not grant.covers("main", "gpu-farm-3kq9")
    assert not grant.covers("report", "gpu-farm-3kq9") and not grant.covers("reportsx", "gpu-farm-3kq9")
    assert not grant.covers(None, "gpu-farm-3kq9") and not grant.covers("reports", 7)
    assert grant.job_filter() == {"lane": {"$in": ["etl", "reports"]}, "cluster": {"$in": ["gpu-farm-3kq9"]}}
    assert parse_grant(grant.describe(), "again") == grant

    lanes_only = parse_grant("read lanes=reports", "entry 2")
    assert lanes_only.covers("reports", "anywhere") and lanes_only.job_filter() == {
        "lane": {"$in": ["reports"]}
    }


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no scopes"),
        ("write", "allowed"),
        ("read lanes=", "lanes= needs"),
        ("read lanes=Reports", "lanes= needs"),
        ("read lanes=a.b", "lanes= needs"),
        ("read tenants=a", "is not lanes="),
        ("read lanes=a lanes=b", "twice"),
        ("admin lanes=a", "admin key cannot be limited"),
        ("admin fairness=tenant:a", "admin key cannot be limited"),
        ("submit fairness=", "fairness= needs"),
        ("submit fairness=a fairness=b", "fairness= needs"),
        ("submit fairness=a/b", "fairness= needs"),
        ("read,admin clusters=c", "admin key cannot be limited"),
    ],
)
def test_bad_grants_are_refused_with_the_entry_named(text: str, says: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_grant(text, "API key file line 3")
    assert says in str(info.value) and "line 3" in str(info.value)


def test_a_key_bound_to_a_fairness_key_submits_under_it_and_no_other() -> None:
    grant = parse_grant("submit,read lanes=shared fairness=tenant:acme", "entry 1")
    assert grant.fairness_key == "tenant:acme" and parse_grant(grant.describe(), "again") == grant
    assert grant.fairness_for(None) == "tenant:acme" and grant.fairness_for("tenant:acme") == "tenant:acme"
    with pytest.raises(ValueError, match="tenant:acme"):
        grant.fairness_for("tenant:other")
    unbound = parse_grant("submit", "entry 2")
    assert unbound.fairness_for(None) is None and unbound.fairness_for("tenant:x") == "tenant:x"
