"""The paper's skew lesson, simulated on the admission core: a table that has capacity to spare
throttles a skewed workload when its capacity is split evenly over partitions (``static``), and
does not under global admission control (``gac``).

Role: ``run_skew(SkewWorkload(...), mode)`` drives ``admission.partition`` and ``admission.gac``
with a seeded stream of one-unit writes spread over several routers, and returns the throttled
fraction per second and overall. Deterministic per seed; no clock (simulated time), no ray.
``bench.admission`` measures the same on real actors; this is the model it is checked against.

Must not import ray or rocksdict.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from raydynamo.admission.gac import RouterTokens, TableLedger
from raydynamo.admission.partition import WRITE_UNITS_PER_PARTITION_MAX, PartitionBuckets

Mode = Literal["static", "gac"]


@dataclass(frozen=True, slots=True)
class SkewWorkload:
    table_units_per_s: float = 400.0
    partitions: int = 4
    routers: int = 4
    writes_per_s: float = 300.0
    hot_fraction: float = 0.8  # of the writes, on one key (so one partition)
    seconds: int = 60
    grant_delay_s: float = 0.005  # a router's grant arrives this long after it asked
    seed: int = 0


@dataclass(slots=True)
class SkewResult:
    mode: Mode
    offered: int = 0
    throttled: int = 0
    throttled_per_s: list[float] = field(default_factory=list)

    @property
    def throttled_fraction(self) -> float:
        return self.throttled / self.offered if self.offered else 0.0


def run_skew(workload: SkewWorkload, mode: Mode) -> SkewResult:
    rng = random.Random(workload.seed)
    share = workload.table_units_per_s / workload.partitions
    if mode == "gac":  # partitions only defend themselves; the table's rate is enforced by GAC
        share = min(WRITE_UNITS_PER_PARTITION_MAX, workload.table_units_per_s)
    partitions = [
        PartitionBuckets.create(share, WRITE_UNITS_PER_PARTITION_MAX, 0.0)
        for _ in range(workload.partitions)
    ]
    ledger = TableLedger(workload.table_units_per_s, 0.0)
    routers = [RouterTokens() for _ in range(workload.routers)]
    pending: list[tuple[float, int, float]] = []  # (arrives_s, router, units asked)
    result = SkewResult(mode)
    offered_now = throttled_now = 0
    second = 0
    now_s = 0.0
    while True:
        now_s += rng.expovariate(workload.writes_per_s)
        if now_s >= workload.seconds:
            break
        if int(now_s) > second:
            result.throttled_per_s.append(throttled_now / offered_now if offered_now else 0.0)
            offered_now = throttled_now = 0
            second = int(now_s)
        router_index = rng.randrange(workload.routers)
        hot = rng.random() < workload.hot_fraction
        partition = partitions[0 if hot else rng.randrange(workload.partitions)]
        admitted = True
        if mode == "gac":
            _deliver_grants(pending, routers, ledger, now_s)
            tokens = routers[router_index]
            if tokens.needs_grant(now_s):  # the request waits for a grant
                grant = ledger.request(f"r{router_index}", tokens.units_to_ask(now_s), now_s)
                tokens.accept(grant, now_s)
            elif tokens.wants_refresh(now_s) and not any(p[1] == router_index for p in pending):
                asked = tokens.units_to_ask(now_s)
                pending.append((now_s + workload.grant_delay_s, router_index, asked))
            admitted = tokens.admit(1.0, now_s)
        if admitted:
            admitted = partition.admit(now_s).value == "admitted"
            if admitted:
                partition.charge(1.0, now_s)
        result.offered += 1
        offered_now += 1
        if not admitted:
            result.throttled += 1
            throttled_now += 1
    result.throttled_per_s.append(throttled_now / offered_now if offered_now else 0.0)
    return result


def _deliver_grants(
    pending: list[tuple[float, int, float]],
    routers: list[RouterTokens],
    ledger: TableLedger,
    now_s: float,
) -> None:
    due = [p for p in pending if p[0] <= now_s]
    for arrives_s, router_index, asked in due:
        pending.remove((arrives_s, router_index, asked))
        grant = ledger.request(f"r{router_index}", asked, arrives_s)
        routers[router_index].accept(grant, arrives_s)
