"""What a replica consumes (``node.consumption``) and how a table's partitions are reported from
their replicas (``metadata.partition_report``: DescribePartitions and ``raydynamo status``)."""

from __future__ import annotations

import threading

import pytest

from raydynamo.metadata.partition_map import HASH_SPACE, PartitionRange
from raydynamo.metadata.partition_report import (
    describe_partitions_response,
    partition_report,
    partition_status,
)
from raydynamo.node.consumption import PartitionConsumption, consumption_fields


def test_a_steady_rate_is_reported_as_it_is_even_for_a_young_replica() -> None:
    tally = PartitionConsumption(now=0.0, half_life_s=5.0)
    for tick in range(1, 301):  # 3 s of 100 write units per second, in 10 ms steps
        tally.add("write", 1.0, now=tick / 100)
    snap = tally.snapshot(now=3.0)
    assert snap.write_units_per_s == pytest.approx(100.0, rel=0.05)
    assert snap.read_units_per_s == 0.0
    assert snap.write_units_total == 300.0


def test_an_idle_partitions_rate_decays_towards_zero() -> None:
    tally = PartitionConsumption(now=0.0, half_life_s=2.0)
    for tick in range(1, 201):
        tally.add("read", 2.0, now=tick / 100)
    busy = tally.snapshot(now=2.0).read_units_per_s
    tally.add("read", 0.0, now=12.0)  # ten idle seconds: five half-lives
    idle = tally.snapshot(now=12.0).read_units_per_s
    assert busy == pytest.approx(200.0, rel=0.05)
    assert idle < busy / 16
    assert tally.snapshot(now=12.0).read_units_total == 400.0


def test_throttles_are_counted_and_reported() -> None:
    tally = PartitionConsumption(now=0.0)
    for _ in range(3):
        tally.throttle()
    fields = consumption_fields(tally.snapshot(now=0.5))
    assert fields["throttled"] == 3
    assert fields["read_units_per_s"] == 0.0  # nothing observed: no rate invented


def test_a_burst_shorter_than_a_fold_is_seen_at_once() -> None:
    tally = PartitionConsumption(now=0.0)
    for tick in range(1, 41):  # 40 units within 0.2 s
        tally.add("write", 1.0, now=tick / 200)
    assert tally.snapshot(now=0.2).write_units_per_s == pytest.approx(200.0, rel=0.01)


def test_counts_from_many_threads_add_up() -> None:
    tally = PartitionConsumption(now=0.0)

    def add() -> None:
        for i in range(10_000):
            tally.add("read", 0.5, now=i / 10_000)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tally.snapshot(now=1.0).read_units_total == 20_000.0


def test_a_half_life_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PartitionConsumption(now=0.0, half_life_s=0.0)


PARTITION = PartitionRange("p1", 0, HASH_SPACE // 2, ("sn0#a", "sn1#b", "sn2#c"))


def entry(role: str, reads: float, writes: float, throttled: int = 0) -> dict[str, object]:
    return {
        "partition_id": "p1",
        "role": role,
        "read_units_per_s": reads,
        "write_units_per_s": writes,
        "throttled": throttled,
    }


def test_a_partition_reports_its_leaders_writes_and_every_replicas_reads() -> None:
    entries = {
        "sn0": entry("follower", 10.0, 49.0),
        "sn1": entry("leader", 30.0, 50.0, throttled=2),
        "sn2": entry("follower", 5.0, 48.0, throttled=1),
    }
    report = partition_report(PARTITION, entries, {"items": 7, "bytes": 700})
    assert report == {
        "PartitionId": "p1",
        "HashRangeStart": 0,
        "HashRangeEnd": HASH_SPACE // 2 - 1,
        "Leader": "sn1",
        "Replicas": ["sn0", "sn1", "sn2"],
        "ItemCount": 7,
        "SizeBytes": 700,
        "ReadUnitsPerSecond": 45.0,
        "WriteUnitsPerSecond": 50.0,
        "Throttled": 3,
        "Reported": 3,
    }


def test_without_a_leader_the_most_applied_writes_are_reported() -> None:
    entries = {"sn0": entry("follower", 0.0, 20.0), "sn2": entry("candidate", 0.0, 25.0)}
    report = partition_report(PARTITION, entries, {})
    assert report["Leader"] is None and report["WriteUnitsPerSecond"] == 25.0
    assert report["Reported"] == 2 and report["ItemCount"] == 0


def test_the_table_response_lists_every_partition_in_map_order() -> None:
    second = PartitionRange("p2", HASH_SPACE // 2, HASH_SPACE, ("sn3#d", "sn4#e", "sn5#f"))
    response = describe_partitions_response(
        "orders", [PARTITION, second], {"p1": {"sn1": entry("leader", 1.0, 2.0)}}, {}
    )
    assert response["TableName"] == "orders"
    assert [p["PartitionId"] for p in response["Partitions"]] == ["p1", "p2"]
    assert response["Partitions"][1]["HashRangeEnd"] == HASH_SPACE - 1
    assert response["Partitions"][1]["Reported"] == 0


def test_the_cluster_status_says_a_partition_with_a_silent_replica_is_degraded() -> None:
    entries = {"sn0": entry("follower", 0, 0), "sn1": entry("leader", 0, 7.5)}
    status = partition_status(PARTITION, entries, [])
    assert status["leader"] == "sn1" and status["write_units_per_s"] == 7.5
    assert status["healthy"] is False
    entries["sn2"] = entry("follower", 0, 0)
    assert partition_status(PARTITION, entries, [])["healthy"] is True
