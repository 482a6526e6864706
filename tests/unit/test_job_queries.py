"""Splitting a listing's cursor into plain ranges the server can answer from its index."""

from __future__ import annotations

import pytest

from laneyard.shared.store.job_queries import branches, build_filter, matches_id, merge_condition
from laneyard.shared.store.paging import encode_cursor


def test_a_query_without_a_cursor_is_left_alone() -> None:
    query = build_filter(state="RUNNING", lane="main")
    assert branches(query) == [query]


def test_a_cursor_becomes_two_plain_queries_with_the_rest_of_the_filter() -> None:
    cursor = encode_cursor({"_id": "j9", "created_at": 100.0}, "created_at")
    query = build_filter(lane="main", cursor=cursor)
    query["created_at"] = {"$gte": 50.0}  # a time range, as the console adds
    before, tied = branches(query)
    assert before == {"lane": "main", "created_at": {"$gte": 50.0, "$lt": 100.0}}
    assert tied == {"lane": "main", "created_at": {"$gte": 50.0, "$eq": 100.0}, "_id": {"$lt": "j9"}}


def test_conditions_on_one_field_combine_and_clashes_are_refused() -> None:
    assert merge_condition({"$gte": 1}, {"$lt": 5}) == {"$gte": 1, "$lt": 5}
    assert merge_condition(3, {"$lt": 5}) == {"$eq": 3, "$lt": 5}
    with pytest.raises(ValueError):
        merge_condition({"$lt": 1}, {"$lt": 5})


def test_an_id_range_is_checked_the_way_the_server_would() -> None:
    assert matches_id("a", {"$lt": "b"}) and not matches_id("b", {"$lt": "b"})
    assert matches_id("b", {"$lte": "b", "$gt": "a"})
    with pytest.raises(ValueError):
        matches_id("a", {"$in": ["a"]})
