"""A seeded network of frames between simulated storage nodes, with every fault a wire can have.

Storage nodes exchange sealed frames (``consensus.codec.encode_batch``). This network delays (and
so reorders), drops and duplicates them, cuts links until healed, and damages them: a flipped
byte (the checksum must catch it), a truncated frame, and foreign frames (messages claiming
another sender, or for partitions nobody hosts). Every fault actually injected is counted. Every
decision comes from the world's seeded generator. Pure: no ray, no rocksdict, no clock reads.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from raydynamo.consensus.codec import encode_batch
from raydynamo.consensus.messages import Heartbeat
from raydynamo.consensus.types import Ballot


@dataclass(frozen=True, slots=True)
class FrameFaults:
    """Per-frame probabilities and delay bounds (seconds)."""

    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    corrupt_rate: float = 0.0
    truncate_rate: float = 0.0
    foreign_rate: float = 0.0
    delay_min_s: float = 0.0005
    delay_max_s: float = 0.010


@dataclass(order=True, slots=True)
class FrameInFlight:
    deliver_at: float
    seq: int
    src: str = field(compare=False)
    dst: str = field(compare=False)
    frame: bytes = field(compare=False)


@dataclass(slots=True)
class FrameCounts:
    sent: int = 0
    dropped: int = 0
    duplicated: int = 0
    corrupted: int = 0
    truncated: int = 0
    foreign: int = 0


class FrameNetwork:
    def __init__(self, rng: random.Random, faults: FrameFaults) -> None:
        self.rng = rng
        self.faults = faults
        self.queue: list[FrameInFlight] = []
        self.seq = 0
        self.cut: set[frozenset[str]] = set()
        self.counts = FrameCounts()

    def send(self, src: str, dst: str, frame: bytes, now: float) -> None:
        f = self.faults
        rng = self.rng
        self.counts.sent += 1
        if self.is_cut(src, dst) or rng.random() < f.drop_rate:
            self.counts.dropped += 1
            return
        copies = 1
        if rng.random() < f.duplicate_rate:
            copies = 2
            self.counts.duplicated += 1
        for _ in range(copies):
            damaged = frame
            if rng.random() < f.corrupt_rate and frame:
                i = rng.randrange(len(frame))
                damaged = frame[:i] + bytes([frame[i] ^ (1 << rng.randrange(8))]) + frame[i + 1 :]
                self.counts.corrupted += 1
            elif rng.random() < f.truncate_rate and len(frame) > 1:
                damaged = frame[: rng.randrange(1, len(frame))]
                self.counts.truncated += 1
            self._enqueue(src, dst, damaged, now)
        if rng.random() < f.foreign_rate:
            self._enqueue(src, dst, self._foreign_frame(src), now)
            self.counts.foreign += 1

    def _foreign_frame(self, src: str) -> bytes:
        """A well-sealed frame that must not be obeyed: a spoofed sender, or a partition that
        no node of this cluster hosts."""
        bogus = Heartbeat("intruder", Ballot(10**9, "intruder"), 10**9, 0.0)
        if self.rng.random() < 0.5:
            return encode_batch([("no-such-partition", Heartbeat(src, bogus.ballot, 1, 0.0))])
        return encode_batch([("p0", bogus)])

    def _enqueue(self, src: str, dst: str, frame: bytes, now: float) -> None:
        delay = self.rng.uniform(self.faults.delay_min_s, self.faults.delay_max_s)
        self.seq += 1
        heapq.heappush(self.queue, FrameInFlight(now + delay, self.seq, src, dst, frame))

    def due(self, now: float) -> list[FrameInFlight]:
        out: list[FrameInFlight] = []
        while self.queue and self.queue[0].deliver_at <= now:
            item = heapq.heappop(self.queue)
            if self.is_cut(item.src, item.dst):
                self.counts.dropped += 1
                continue
            out.append(item)
        return out

    def is_cut(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self.cut

    def isolate(self, a: str, others: tuple[str, ...]) -> None:
        for b in others:
            if b != a:
                self.cut.add(frozenset((a, b)))

    def partition(self, a: str, b: str) -> None:
        self.cut.add(frozenset((a, b)))

    def heal(self) -> None:
        self.cut.clear()
