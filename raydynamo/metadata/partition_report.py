"""``DescribePartitions``, a raydynamo extension: a table's partitions as its replicas report them.

DynamoDB does not show its partitions; raydynamo does, because splits, leaders and where a
table's capacity goes are what an operator of this system needs to see. For each partition: its
id, its range of key hashes (``HashRangeStart`` to ``HashRangeEnd``, both inclusive), its leader
and replicas, its items and bytes, the read and write units it consumes per second (writes as
its leader applied them, reads summed over the replicas that served them) and the requests its
replicas refused for overload (``Throttled``). A replica that did not answer adds nothing, and
``Reported`` says how many did.

Pure: the controller gathers the replicas' status entries and statistics and calls
``describe_partitions_response``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from raydynamo.metadata.member_ids import node_of
from raydynamo.metadata.partition_map import PartitionRange
from raydynamo.metadata.placement import NodeInfo, assess_group


def partition_report(
    partition: PartitionRange, entries: Mapping[str, Mapping[str, Any]], stats: Mapping[str, Any]
) -> dict[str, Any]:
    """One partition; ``entries`` are its replicas' status entries by storage node id."""
    leaders = [node for node, entry in entries.items() if entry.get("role") == "leader"]
    leader_entry = entries[leaders[0]] if leaders else None
    # Every replica applies every write: the leader's count is the partition's, or, with no
    # leader, the most any replica applied.
    writes = [float(e.get("write_units_per_s", 0.0)) for e in entries.values()]
    write_rate = (
        float(leader_entry.get("write_units_per_s", 0.0))
        if leader_entry is not None
        else max(writes, default=0.0)
    )
    return {
        "PartitionId": partition.partition_id,
        "HashRangeStart": partition.hash_start,
        "HashRangeEnd": partition.hash_end - 1,
        "Leader": leaders[0] if leaders else None,
        "Replicas": [node_of(member) for member in partition.members],
        "ItemCount": int(stats.get("items", 0)),
        "SizeBytes": int(stats.get("bytes", 0)),
        "ReadUnitsPerSecond": round(
            sum(float(e.get("read_units_per_s", 0.0)) for e in entries.values()), 3
        ),
        "WriteUnitsPerSecond": round(write_rate, 3),
        "Throttled": sum(int(e.get("throttled", 0)) for e in entries.values()),
        "Reported": len(entries),
    }


def describe_partitions_response(
    table_name: str,
    partitions: Sequence[PartitionRange],
    entries_by_partition: Mapping[str, Mapping[str, Mapping[str, Any]]],
    stats_by_partition: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    return {
        "TableName": table_name,
        "Partitions": [
            partition_report(
                partition,
                entries_by_partition.get(partition.partition_id, {}),
                stats_by_partition.get(partition.partition_id, {}),
            )
            for partition in partitions
        ],
    }


def partition_status(
    partition: PartitionRange, entries: Mapping[str, Mapping[str, Any]], infos: list[NodeInfo]
) -> dict[str, Any]:
    """One partition in the cluster status (``raydynamo status``): placement, leader, health
    and load, without the scan that counting its items would take."""
    placement = assess_group(list(partition.members), infos)
    report = partition_report(partition, entries, {})
    reported_all = all(node_of(m) in entries for m in partition.members)
    return {
        "partition_id": partition.partition_id,
        "hash_start": report["HashRangeStart"],
        "hash_last": report["HashRangeEnd"],
        "members": list(partition.members),
        "leader": report["Leader"],
        "read_units_per_s": report["ReadUnitsPerSecond"],
        "write_units_per_s": report["WriteUnitsPerSecond"],
        "throttled": report["Throttled"],
        "zones_distinct": placement.zones_distinct,
        "note": placement.note,
        "healthy": reported_all and report["Leader"] is not None,
    }
