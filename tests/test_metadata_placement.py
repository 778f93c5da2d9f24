"""Placement: distinct nodes always, distinct zones whenever possible, balanced counts, rotating
leaders, and replacements that never pick a member or a dead node."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raydynamo.metadata.placement import (
    NodeInfo,
    Placement,
    PlacementError,
    assess_group,
    place_group,
    place_partitions,
    replacement_for,
    with_placement,
)


def cluster(zone_sizes: list[int]) -> list[NodeInfo]:
    """Storage nodes ``s<zone>-<i>`` on Ray nodes ``z<zone>``, all idle."""
    return [
        NodeInfo(f"s{z}-{i}", f"z{z}") for z, size in enumerate(zone_sizes) for i in range(size)
    ]


# ---------------------------------------------------------------- examples


def test_three_zones_get_one_replica_each() -> None:
    placement = place_group(cluster([1, 1, 1]))
    assert placement == Placement(("s0-0", "s1-0", "s2-0"), ("z0", "z1", "z2"), True, "")


def test_one_zone_says_so() -> None:
    placement = place_group(cluster([3]))
    assert placement.members == ("s0-0", "s0-1", "s0-2")
    assert not placement.zones_distinct
    assert placement.note == "3 replicas on 1 zone: the cluster has 1 zone with live storage nodes"


def test_two_zones_use_both() -> None:
    placement = place_group(cluster([2, 2]))
    assert Counter(placement.zones) == Counter({"z0": 2, "z1": 1})
    assert (
        placement.note == "3 replicas on 2 zones: the cluster has 2 zones with live storage nodes"
    )


def test_five_replicas_on_three_zones_go_two_two_one() -> None:
    placement = place_group(cluster([3, 3, 3]), replicas=5)
    assert sorted(Counter(placement.zones).values()) == [1, 2, 2]
    assert not placement.zones_distinct


def test_dead_and_loaded_nodes_are_avoided() -> None:
    nodes = [
        NodeInfo("a1", "za", replica_count=5),
        NodeInfo("a2", "za", replica_count=1),
        NodeInfo("b1", "zb", alive=False),
        NodeInfo("b2", "zb", replica_count=2),
        NodeInfo("c1", "zc", replica_count=0, leader_count=3),
        NodeInfo("c2", "zc", replica_count=0, leader_count=1),
    ]
    placement = place_group(nodes)
    assert set(placement.members) == {"a2", "b2", "c1"}
    assert placement.members[0] == "a2"  # the member leading the fewest groups leads


def test_too_few_live_nodes() -> None:
    nodes = [*cluster([2]), NodeInfo("dead", "z9", alive=False)]
    with pytest.raises(PlacementError, match="needs 3 live storage nodes; the cluster has 2"):
        place_group(nodes)
    with pytest.raises(ValueError, match="odd number"):
        place_group(cluster([4]), replicas=4)


def test_placement_is_deterministic_and_input_order_free() -> None:
    nodes = cluster([2, 3, 1, 2])
    first, _ = place_partitions(nodes, 20)
    again, _ = place_partitions(list(reversed(nodes)), 20)
    assert first == again


def test_leaders_rotate() -> None:
    placements, nodes = place_partitions(cluster([1, 1, 1]), 9)
    assert Counter(p.members[0] for p in placements) == Counter({"s0-0": 3, "s1-0": 3, "s2-0": 3})
    assert {n.leader_count for n in nodes} == {3}
    assert {n.replica_count for n in nodes} == {9}


def test_replacement_prefers_the_missing_zone_then_the_least_loaded() -> None:
    nodes = [
        NodeInfo("a1", "za", replica_count=1),
        NodeInfo("a2", "za", replica_count=0),
        NodeInfo("b1", "zb", replica_count=1),
        NodeInfo("c1", "zc", alive=False),
        NodeInfo("c2", "zc", replica_count=9),
        NodeInfo("c3", "zc", replica_count=4),
    ]
    group = ("a1", "b1", "c1")
    assert replacement_for(group, "c1", nodes) == "c3"  # zone zc is missing; a2 is idler
    assert replacement_for(group, "c1", [n for n in nodes if n.zone != "zc"]) == "a2"
    assert replacement_for(("a1", "a2", "b1"), "b1", nodes[:3]) is None


def test_assess_group_reports_lost_replicas_and_shared_zones() -> None:
    nodes = [NodeInfo("a1", "za"), NodeInfo("b1", "zb"), NodeInfo("c1", "zc", alive=False)]
    assessed = assess_group(("a1", "b1", "c1"), nodes)
    assert not assessed.zones_distinct
    assert assessed.note == (
        "2 of 3 replicas healthy; 3 replicas on 2 zones: the cluster has 2 zones with live "
        "storage nodes"
    )
    assert assess_group(("a1", "b1", "c1"), [*nodes[:2], NodeInfo("c1", "zc")]).note == ""


# ---------------------------------------------------------------- properties

zone_count = st.integers(1, 5)


@st.composite
def random_clusters(draw: st.DrawFn) -> list[NodeInfo]:
    nodes = []
    for zone in range(draw(zone_count)):
        for index in range(draw(st.integers(0, 4))):
            nodes.append(
                NodeInfo(
                    node_id=f"s{zone}-{index}",
                    zone=f"z{zone}",
                    alive=draw(st.booleans() | st.just(True)),
                    replica_count=draw(st.integers(0, 12)),
                    leader_count=draw(st.integers(0, 5)),
                )
            )
    return nodes


@settings(max_examples=400, deadline=None)
@given(nodes=random_clusters(), replicas=st.sampled_from([3, 5]))
def test_groups_use_distinct_live_nodes_and_as_many_zones_as_possible(
    nodes: list[NodeInfo], replicas: int
) -> None:
    live = [n for n in nodes if n.alive]
    if len(live) < replicas:
        with pytest.raises(PlacementError):
            place_group(nodes, replicas)
        return
    placement = place_group(nodes, replicas)
    by_id = {n.node_id: n for n in nodes}
    assert len(placement.members) == replicas
    assert len(set(placement.members)) == replicas
    assert all(by_id[m].alive for m in placement.members)
    assert placement.zones == tuple(by_id[m].zone for m in placement.members)
    possible = min(replicas, len({n.zone for n in live}))
    assert len(set(placement.zones)) == possible
    assert placement.zones_distinct == (possible == replicas)
    assert (placement.note == "") == placement.zones_distinct
    per_zone = Counter(placement.zones)
    live_per_zone = Counter(n.zone for n in live)
    fewest = min(per_zone.values())
    for zone, members in per_zone.items():
        # spread evenly: a zone holds two more than another only when that one is exhausted
        if members - fewest > 1:
            short = [z for z, m in per_zone.items() if m == fewest]
            assert all(per_zone[z] == live_per_zone[z] for z in short), zone
    leader = by_id[placement.members[0]]
    assert leader.leader_count == min(by_id[m].leader_count for m in placement.members)


@settings(max_examples=200, deadline=None)
@given(
    zones=st.integers(1, 5),
    per_zone=st.integers(1, 4),
    replicas=st.sampled_from([3, 5]),
    count=st.integers(1, 120),
)
def test_replica_counts_stay_within_one_on_even_clusters(
    zones: int, per_zone: int, replicas: int, count: int
) -> None:
    nodes = cluster([per_zone] * zones)
    if len(nodes) < replicas:
        return
    placements, placed = place_partitions(nodes, count, replicas)
    replica_counts = [n.replica_count for n in placed]
    assert max(replica_counts) - min(replica_counts) <= 1
    assert sum(replica_counts) == count * replicas
    leader_counts = [n.leader_count for n in placed]
    assert sum(leader_counts) == count
    assert max(leader_counts) - min(leader_counts) <= 2
    assert Counter(p.members[0] for p in placements) == {
        n.node_id: n.leader_count for n in placed if n.leader_count
    }


@settings(max_examples=200, deadline=None)
@given(
    zone_sizes=st.lists(st.integers(1, 5), min_size=1, max_size=5),
    replicas=st.sampled_from([3, 5]),
    count=st.integers(1, 120),
)
def test_counts_within_each_zone_stay_within_one(
    zone_sizes: list[int], replicas: int, count: int
) -> None:
    nodes = cluster(zone_sizes)
    if len(nodes) < replicas:
        return
    _, placed = place_partitions(nodes, count, replicas)
    for zone in {n.zone for n in placed}:
        counts = [n.replica_count for n in placed if n.zone == zone]
        assert max(counts) - min(counts) <= 1


@settings(max_examples=400, deadline=None)
@given(nodes=random_clusters(), data=st.data())
def test_replacement_never_picks_a_member_or_a_dead_node(
    nodes: list[NodeInfo], data: st.DataObject
) -> None:
    if not nodes:
        return
    ids = [n.node_id for n in nodes]
    group = data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=5, unique=True))
    dead = data.draw(st.sampled_from(group))
    chosen = replacement_for(group, dead, nodes)
    candidates = [n for n in nodes if n.alive and n.node_id not in group]
    if not candidates:
        assert chosen is None
        return
    by_id = {n.node_id: n for n in nodes}
    assert chosen is not None
    assert chosen not in group
    assert chosen != dead
    assert by_id[chosen].alive
    held = {by_id[m].zone for m in group if m != dead}
    if any(n.zone not in held for n in candidates):
        assert by_id[chosen].zone not in held
    rivals = [n for n in candidates if n.zone == by_id[chosen].zone]
    assert by_id[chosen].replica_count == min(n.replica_count for n in rivals)


def test_with_placement_counts_one_replica_each_and_one_leader() -> None:
    nodes = cluster([1, 1, 1, 1])
    placement = place_group(nodes)
    updated = with_placement(nodes, placement)
    assert sum(n.replica_count for n in updated) == 3
    assert [n.node_id for n in updated if n.leader_count] == [placement.members[0]]
