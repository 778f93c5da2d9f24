"""What a router enforces for a table: the ledger a request is charged to, its rate, and the
error a throttled request gets.

Role: ``TableCapacity`` is the part of a table's description admission needs (billing mode,
provisioned units, partition count). Under ``gac`` a table has one ledger per kind of unit (its
whole rate, shared by every router); under ``static`` each partition has its own ledger holding
an even share of the table's rate (the original DynamoDB split the paper starts from). On-demand
tables have a ledger that follows their peak: it serves at least the initial rate and twice the
highest rate granted so far (ATC'22: on-demand absorbs up to twice the previous peak at once).

Must not import ray or rocksdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from raydynamo.api.errors import (
    ClientError,
    ProvisionedThroughputExceededException,
    ThrottlingException,
)

Kind = Literal["read", "write"]
Mode = Literal["gac", "static"]

PROVISIONED_EXCEEDED = (
    "The level of configured provisioned throughput for the table was exceeded. Consider "
    "increasing your provisioning level with the UpdateTable API."
)
ON_DEMAND_EXCEEDED = (
    "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically "
    "scaling your table or index so please try again shortly. If exceptions persist, check if "
    "you have a hot key: "
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html"
)


@dataclass(frozen=True, slots=True)
class TableCapacity:
    billing_mode: str  # "PROVISIONED" | "PAY_PER_REQUEST"
    read_units: float
    write_units: float
    partitions: int

    @property
    def on_demand(self) -> bool:
        return self.billing_mode == "PAY_PER_REQUEST"

    def units(self, kind: Kind) -> float:
        return self.read_units if kind == "read" else self.write_units


@dataclass(frozen=True, slots=True)
class LedgerSpec:
    """Which ledger a request is charged to, and how that ledger is set up."""

    key: str  # names the ledger in the admission actors: table, kind, and partition if static
    rate_per_s: float  # provisioned rate (its floor, for an on-demand table)
    follows_peak: bool  # on-demand: the rate grows to twice the highest rate granted


def ledger_for(
    mode: Mode,
    table_name: str,
    capacity: TableCapacity,
    kind: Kind,
    partition_id: str,
    *,
    on_demand_initial_per_s: float,
) -> LedgerSpec:
    if capacity.on_demand:  # no partition split to enforce: one ledger that follows the peak
        return LedgerSpec(f"{table_name}/{kind}", on_demand_initial_per_s, True)
    rate = max(capacity.units(kind), 1.0)
    if mode == "static":
        share = rate / max(1, capacity.partitions)
        return LedgerSpec(f"{table_name}/{kind}/{partition_id}", share, False)
    return LedgerSpec(f"{table_name}/{kind}", rate, False)


def throttle_error(capacity: TableCapacity) -> ClientError:
    if capacity.on_demand:
        return ThrottlingException(ON_DEMAND_EXCEEDED)
    return ProvisionedThroughputExceededException(PROVISIONED_EXCEEDED)
