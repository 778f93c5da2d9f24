"""How many partitions a new table starts with.

DynamoDB sizes a partition by what one storage node can serve: at most 3,000 read capacity
units, 1,000 write capacity units and 10 GB of data. So a table starts with

    throughput partitions = ceil(RCU / 3000 + WCU / 1000)      (PROVISIONED tables)
    size partitions       = ceil(expected bytes / 10 GB)       (when an expected size is given)

and with the larger of the two when both apply; a PAY_PER_REQUEST table with no expected size
starts with the configured default. The result is at least 1 and at most
``PartitionSizing.partitions_max``; a clamped count says so in ``SizingDecision.reason``.

Arithmetic is exact (fractions, not floats): 3,000 RCU plus 1,000 WCU is exactly two partitions.

Pure: no ray, no rocksdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from pydantic import BaseModel, ConfigDict, Field

from raydynamo.metadata.create_table import CreateTableSpec

GIB = 1 << 30


class PartitionSizing(BaseModel):
    """The sizing rules; the controller's configuration embeds one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    partitions_default: int = Field(
        4, ge=1, description="Partitions of a table whose throughput and size are not given."
    )
    partitions_max: int = Field(
        256, ge=1, description="No table starts with more partitions than this."
    )
    read_units_per_partition_max: int = Field(
        3000, ge=1, description="Read capacity units one partition serves (DynamoDB: 3,000)."
    )
    write_units_per_partition_max: int = Field(
        1000, ge=1, description="Write capacity units one partition serves (DynamoDB: 1,000)."
    )
    bytes_per_partition_max: int = Field(
        10 * GIB, ge=1, description="Data one partition holds before it splits (DynamoDB: 10 GB)."
    )


@dataclass(frozen=True, slots=True)
class SizingDecision:
    partition_count: int
    reason: str  # for describe/status: which rule decided, and whether the maximum clamped it


def _throughput_partitions(read_units: int, write_units: int, sizing: PartitionSizing) -> int:
    load = Fraction(read_units, sizing.read_units_per_partition_max) + Fraction(
        write_units, sizing.write_units_per_partition_max
    )
    return math.ceil(load)


def initial_partitions(
    *,
    billing_mode: str,
    read_capacity_units: int = 0,
    write_capacity_units: int = 0,
    expected_size_bytes: int | None = None,
    sizing: PartitionSizing | None = None,
) -> SizingDecision:
    """The starting partition count of a table (see the module docstring for the rules)."""
    sizing = sizing or PartitionSizing()
    assert billing_mode in ("PROVISIONED", "PAY_PER_REQUEST")
    assert read_capacity_units >= 0
    assert write_capacity_units >= 0
    assert expected_size_bytes is None or expected_size_bytes >= 0
    candidates: list[tuple[int, str]] = []
    if billing_mode == "PROVISIONED":
        count = _throughput_partitions(read_capacity_units, write_capacity_units, sizing)
        candidates.append(
            (count, f"throughput {read_capacity_units} RCU / {write_capacity_units} WCU")
        )
    if expected_size_bytes is not None:
        count = math.ceil(Fraction(expected_size_bytes, sizing.bytes_per_partition_max))
        candidates.append((count, f"expected size {expected_size_bytes} bytes"))
    if not candidates:
        candidates.append((sizing.partitions_default, "configured default"))
    count, reason = max(candidates, key=lambda c: c[0])
    if count < 1:
        count = 1
    if count > sizing.partitions_max:
        return SizingDecision(
            sizing.partitions_max,
            f"{reason} asks for {count} partitions; clamped to the maximum {sizing.partitions_max}",
        )
    return SizingDecision(count, reason)


def initial_partitions_for(
    spec: CreateTableSpec,
    *,
    expected_size_bytes: int | None = None,
    sizing: PartitionSizing | None = None,
) -> SizingDecision:
    """``initial_partitions`` for a validated CreateTable request."""
    return initial_partitions(
        billing_mode=spec.billing_mode,
        read_capacity_units=spec.read_capacity_units,
        write_capacity_units=spec.write_capacity_units,
        expected_size_bytes=expected_size_bytes,
        sizing=sizing,
    )
