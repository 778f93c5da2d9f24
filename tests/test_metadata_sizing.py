"""Initial partition counts: DynamoDB's per-partition ceilings, expected size, default, maximum."""

from __future__ import annotations

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raydynamo.metadata.sizing import (
    GIB,
    PartitionSizing,
    initial_partitions,
    initial_partitions_for,
)
from raydynamo.metadata.tables import validate_create_table

# (billing mode, RCU, WCU, expected bytes, partitions, reason contains)
CASES = [
    ("PROVISIONED", 1, 1, None, 1, "throughput 1 RCU / 1 WCU"),
    ("PROVISIONED", 3000, 0, None, 1, "throughput"),
    ("PROVISIONED", 3001, 0, None, 2, "throughput"),
    ("PROVISIONED", 0, 1000, None, 1, "throughput"),
    ("PROVISIONED", 0, 1001, None, 2, "throughput"),
    ("PROVISIONED", 3000, 1000, None, 2, "throughput"),  # exact: no float rounding up to 3
    ("PROVISIONED", 1500, 500, None, 1, "throughput"),
    ("PROVISIONED", 12000, 4000, None, 8, "throughput"),
    ("PROVISIONED", 1, 1, 25 * GIB, 3, "expected size"),  # the larger rule wins
    ("PROVISIONED", 30000, 10000, 25 * GIB, 20, "throughput"),
    ("PAY_PER_REQUEST", 0, 0, None, 4, "configured default"),
    ("PAY_PER_REQUEST", 0, 0, 10 * GIB, 1, "expected size"),
    ("PAY_PER_REQUEST", 0, 0, 10 * GIB + 1, 2, "expected size"),
    ("PAY_PER_REQUEST", 0, 0, 0, 1, "expected size"),  # never fewer than one
    ("PROVISIONED", 10**9, 0, None, 256, "clamped to the maximum 256"),
]


@pytest.mark.parametrize(("mode", "rcu", "wcu", "size", "count", "reason"), CASES)
def test_initial_partitions(
    mode: str, rcu: int, wcu: int, size: int | None, count: int, reason: str
) -> None:
    decision = initial_partitions(
        billing_mode=mode,
        read_capacity_units=rcu,
        write_capacity_units=wcu,
        expected_size_bytes=size,
    )
    assert decision.partition_count == count
    assert reason in decision.reason


def test_configured_sizing() -> None:
    sizing = PartitionSizing(
        partitions_default=1, partitions_max=8, write_units_per_partition_max=500
    )
    assert initial_partitions(billing_mode="PAY_PER_REQUEST", sizing=sizing).partition_count == 1
    provisioned = initial_partitions(
        billing_mode="PROVISIONED", read_capacity_units=1, write_capacity_units=1000, sizing=sizing
    )
    assert provisioned.partition_count == 3
    with pytest.raises(pydantic.ValidationError):
        PartitionSizing(partitions_max=0)
    with pytest.raises(pydantic.ValidationError):
        PartitionSizing(partition_max=3)  # type: ignore[call-arg]  # a typo is refused
    with pytest.raises(pydantic.ValidationError):
        sizing.partitions_max = 3  # type: ignore[misc]  # frozen


def test_sizing_a_validated_request() -> None:
    spec = validate_create_table(
        {
            "TableName": "Music",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "ProvisionedThroughput": {"ReadCapacityUnits": 6000, "WriteCapacityUnits": 1000},
        }
    )
    assert initial_partitions_for(spec).partition_count == 3


@settings(max_examples=300)
@given(
    rcu=st.integers(0, 10**7),
    wcu=st.integers(0, 10**7),
    more=st.integers(0, 10**5),
    size=st.none() | st.integers(0, 10**15),
)
def test_counts_are_bounded_and_monotonic(rcu: int, wcu: int, more: int, size: int | None) -> None:
    sizing = PartitionSizing()

    def count(r: int, w: int) -> int:
        return initial_partitions(
            billing_mode="PROVISIONED",
            read_capacity_units=r,
            write_capacity_units=w,
            expected_size_bytes=size,
        ).partition_count

    base = count(rcu, wcu)
    assert 1 <= base <= sizing.partitions_max
    assert count(rcu + more, wcu) >= base
    assert count(rcu, wcu + more) >= base
