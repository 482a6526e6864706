"""Which lanes a pause holds back, and who may pause what."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from laneyard.services.admission import pause_access
from laneyard.services.admission.grants import Grant
from laneyard.services.dispatcher.pause_watch import PauseWatch
from laneyard.shared.pausing import Pauses, pause_id


def test_a_pause_holds_its_lane_its_lane_everywhere_or_its_whole_cluster() -> None:
    pauses = Pauses.of_docs(
        [
            {"lane": "bulk", "cluster": "default", "paused_at": 1.0},
            {"lane": "etl", "cluster": None},
            {"lane": None, "cluster": "gpu"},
            {"lane": None, "cluster": None},  # names nothing: ignored
        ]
    )
    assert pauses.holds("bulk", "default") and not pauses.holds("bulk", "other")
    assert pauses.holds("etl", "default") and pauses.holds("etl", "gpu")
    assert pauses.holds("main", "gpu") and not pauses.holds("main", "default")
    assert pauses.cluster_paused("gpu") and not pauses.cluster_paused("default")
    assert [p.id for p in pauses.items] == ["cluster:gpu", "lane:bulk@default", "lane:etl@*"]
    assert not Pauses() and Pauses() == Pauses.of_docs([])


def test_pause_ids_never_clash() -> None:
    assert pause_id("main", "default") != pause_id("main", None) != pause_id(None, "main")
    with pytest.raises(ValueError):
        pause_id(None, None)


def test_a_limited_key_pauses_only_its_own_lanes() -> None:
    tenant = Grant(frozenset({"submit"}), frozenset({"reports"}), frozenset({"farm"}))
    lanes_only = Grant(frozenset({"submit"}), frozenset({"reports"}))
    anyone = Grant(frozenset({"submit"}))
    assert pause_access.refusal(tenant, "reports", "farm") is None
    assert "may not" in str(pause_access.refusal(tenant, "main", "farm"))
    assert "may not" in str(pause_access.refusal(tenant, "reports", "default"))
    assert "?cluster=" in str(pause_access.refusal(tenant, "reports", None))  # would reach other clusters
    assert pause_access.refusal(lanes_only, "reports", None) is None
    assert pause_access.refusal(anyone, "main", None) is None
    assert pause_access.visible(tenant, "reports", "farm") and pause_access.visible(tenant, "reports", None)
    assert pause_access.visible(tenant, None, "farm")
    assert not pause_access.visible(tenant, "main", "farm") and not pause_access.visible(
        tenant, None, "default"
    )


def test_the_paused_gauges_follow_the_pauses() -> None:
    lanes = SimpleNamespace(
        consumers={("default", "held"): None, ("default", "main"): None, ("gpu", "main"): None}
    )
    found = Pauses.of_docs([{"lane": "held", "cluster": "default"}, {"lane": None, "cluster": "gpu"}])
    PauseWatch.observe(found, lanes)  # type: ignore[arg-type]

    def lane(name: str, cluster: str) -> float | None:
        return REGISTRY.get_sample_value("laneyard_lane_paused", {"lane": name, "cluster": cluster})

    assert (lane("held", "default"), lane("main", "default"), lane("main", "gpu")) == (1, 0, 1)
    assert REGISTRY.get_sample_value("laneyard_cluster_paused", {"cluster": "gpu"}) == 1
    PauseWatch.observe(Pauses(), lanes)  # type: ignore[arg-type]
    assert (
        lane("held", "default") == 0
        and REGISTRY.get_sample_value("laneyard_cluster_paused", {"cluster": "gpu"}) == 0
    )
