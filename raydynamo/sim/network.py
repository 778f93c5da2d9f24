"""A seeded in-memory network between simulated replicas.

It drops, duplicates, delays (and so reorders) messages, and cuts pairs of replicas off from each
other until healed. Every decision comes from the world's seeded generator, so one seed always
gives one trace. Pure: no ray, no rocksdict, no clock reads.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from raydynamo.consensus.messages import Message


@dataclass(frozen=True, slots=True)
class NetworkFaults:
    """Per-run fault rates (probabilities per message) and delay bounds (seconds)."""

    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    delay_min_s: float = 0.001
    delay_max_s: float = 0.010


@dataclass(order=True, slots=True)
class InFlight:
    deliver_at: float
    seq: int
    src: str = field(compare=False)
    dst: str = field(compare=False)
    msg: Message = field(compare=False)


class SimNetwork:
    def __init__(self, rng: random.Random, faults: NetworkFaults) -> None:
        self.rng = rng
        self.faults = faults
        self.queue: list[InFlight] = []
        self.seq = 0
        self.cut: set[frozenset[str]] = set()
        self.sent = 0
        self.dropped = 0
        self.duplicated = 0

    def send(self, src: str, dst: str, msg: Message, now: float) -> None:
        self.sent += 1
        if self.is_cut(src, dst) or self.rng.random() < self.faults.drop_rate:
            self.dropped += 1
            return
        copies = 1
        if self.rng.random() < self.faults.duplicate_rate:
            copies = 2
            self.duplicated += 1
        for _ in range(copies):
            delay = self.rng.uniform(self.faults.delay_min_s, self.faults.delay_max_s)
            self.seq += 1
            heapq.heappush(self.queue, InFlight(now + delay, self.seq, src, dst, msg))

    def due(self, now: float) -> list[InFlight]:
        """Messages whose delivery time has come, in delivery order; a cut drops them too."""
        out: list[InFlight] = []
        while self.queue and self.queue[0].deliver_at <= now:
            item = heapq.heappop(self.queue)
            if self.is_cut(item.src, item.dst):
                self.dropped += 1
                continue
            out.append(item)
        return out

    def is_cut(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self.cut

    def partition(self, a: str, b: str) -> None:
        self.cut.add(frozenset((a, b)))

    def isolate(self, a: str, members: tuple[str, ...]) -> None:
        for b in members:
            if b != a:
                self.partition(a, b)

    def heal(self) -> None:
        self.cut.clear()
