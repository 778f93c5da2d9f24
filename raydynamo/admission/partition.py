"""The buckets one partition keeps for one kind of unit (reads or writes), as ATC'22 tells it.

Role: ``PartitionBuckets.admit(now_s)`` says whether a request may run on this partition now, and
``charge(units, now_s)`` takes what it consumed. Three buckets:

- *allocated*: the partition's share of the table's rate (``allocated_per_s``), holding one
  second of it; starts full;
- *burst*: the allocated capacity the partition did not use, kept for up to ``burst_window_s``
  (300 s in DynamoDB); fed only from the allocated bucket's overflow, so it starts empty when a
  partition is created and fills while the partition runs below its share;
- *hard limit*: the most any partition serves, whatever the table has (3,000 read units or 1,000
  write units per second), one second of it.

A request is admitted while the hard-limit bucket is not in debt and either the allocated or the
burst bucket has tokens; its units are taken from the allocated bucket first, then from burst, and
what neither holds becomes the allocated bucket's debt.

Invariants: a partition never serves more than its hard limit plus one second of it over any
interval; with ``allocated_per_s`` r and no burst left it serves r per second in the long run.

Must not import ray or rocksdict; no clock (time is passed in).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from raydynamo.admission.buckets import TokenBucket

READ_UNITS_PER_PARTITION_MAX = 3000.0
WRITE_UNITS_PER_PARTITION_MAX = 1000.0
BURST_WINDOW_S = 300.0


class Verdict(Enum):
    ADMITTED = "admitted"
    THROTTLED = "throttled"  # the partition's share and its burst are spent
    OVER_PARTITION_LIMIT = "over_partition_limit"  # the hard per-partition limit


@dataclass(slots=True)
class PartitionBuckets:
    allocated: TokenBucket
    burst: TokenBucket
    hard_limit: TokenBucket

    @classmethod
    def create(
        cls,
        allocated_per_s: float,
        hard_limit_per_s: float,
        now_s: float,
        *,
        burst_window_s: float = BURST_WINDOW_S,
    ) -> PartitionBuckets:
        assert allocated_per_s >= 0 and hard_limit_per_s > 0, (allocated_per_s, hard_limit_per_s)
        return cls(
            allocated=TokenBucket.full(allocated_per_s, allocated_per_s, now_s),
            burst=TokenBucket.empty(0.0, allocated_per_s * burst_window_s, now_s),
            hard_limit=TokenBucket.full(hard_limit_per_s, hard_limit_per_s, now_s),
        )

    def _refill(self, now_s: float) -> None:
        self.burst.deposit(self.allocated.refill(now_s))
        self.hard_limit.refill(now_s)

    def admit(self, now_s: float) -> Verdict:
        self._refill(now_s)
        if not self.hard_limit.has_tokens():
            return Verdict.OVER_PARTITION_LIMIT
        if self.allocated.has_tokens() or self.burst.has_tokens():
            return Verdict.ADMITTED
        return Verdict.THROTTLED

    def charge(self, units: float, now_s: float) -> None:
        self._refill(now_s)
        self.hard_limit.charge(units)
        from_allocated = min(units, max(0.0, self.allocated.tokens))
        from_burst = min(units - from_allocated, max(0.0, self.burst.tokens))
        self.allocated.charge(units - from_burst)
        self.burst.charge(from_burst)

    def reallocate(
        self, allocated_per_s: float, now_s: float, *, burst_window_s: float = BURST_WINDOW_S
    ) -> None:
        """A new share (the table's capacity changed, or the partition split): from ``now_s``
        on; burst already saved is kept up to the new window."""
        self._refill(now_s)
        self.allocated.reconfigure(allocated_per_s, allocated_per_s, now_s)
        self.burst.reconfigure(0.0, allocated_per_s * burst_window_s, now_s)
