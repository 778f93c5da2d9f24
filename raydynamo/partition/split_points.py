"""Where to split a partition: by the bytes it holds, or by the load it serves.

Tables are partitioned by the 64-bit hash of the partition key, so a split point is a hash ``h``
with ``hash_start < h < hash_end``: the left child keeps ``[hash_start, h)``, the right one
``[h, hash_end)``. Every item of one partition key has the same hash, so an item collection is
never cut in two.

- ``size_split_point``: the hash that divides the partition's bytes most evenly (the paper's split
  for size: "the split point is chosen from the key distribution", weighted by item size).
- ``load_split_point``: the hash that divides the sampled load most evenly (split for
  consumption), or a refusal when a split would not spread the load: one partition key carries
  most of it (a hot item or item collection stays hot in whichever child holds it), or the load
  walks through the key space in order (the next accesses land beyond any point chosen now). Both
  are the exceptions the ATC'22 paper names.
- ``LoadSample``: a bounded, seeded reservoir of where a partition's consumed units land, from
  which ``load_split_point`` decides.

Pure: no ray, no rocksdict, no clock reads (callers pass times).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

SINGLE_KEY_SHARE_MAX = 0.5  # one hash with more of the load than this: no split helps
SEQUENTIAL_SHARE_MIN = 0.9  # this share of consecutive accesses moving one way: sequential
SAMPLES_MIN = 20  # fewer observations than this say too little to split on


class NoSplit(Enum):
    """Why a partition is not split for its load."""

    TOO_FEW_SAMPLES = "too few samples"
    SINGLE_KEY = "single key"
    SEQUENTIAL = "sequential"
    ONE_HASH = "one hash"  # every observation has one hash: there is no point between them


@dataclass(frozen=True, slots=True)
class LoadSplit:
    """A load-based decision: the split point, or why there is none."""

    split_at: int | None
    refused: NoSplit | None = None
    left_share: float = 0.0  # of the sampled load, what the left child would have served


def balanced_cut(
    weights_by_hash: Iterable[tuple[int, float]], hash_start: int, hash_end: int
) -> int | None:
    """The hash ``h`` in ``(hash_start, hash_end)`` that makes the total weight below ``h`` and at
    or above it as equal as possible, or None when all the weight is under one hash. Only
    observed hashes are candidates, so both children hold something of what was observed."""
    merged: dict[int, float] = {}
    for key_hash, weight in weights_by_hash:
        if not hash_start <= key_hash < hash_end:
            raise ValueError(f"hash {key_hash} is outside [{hash_start}, {hash_end})")
        if weight < 0:
            raise ValueError(f"negative weight {weight}")
        merged[key_hash] = merged.get(key_hash, 0.0) + weight
    hashes = sorted(merged)
    if len(hashes) < 2:
        return None
    total = sum(merged.values())
    best: tuple[float, int] | None = None
    # One pass: the cut before hashes[i] leaves hashes[:i] on the left.
    left = 0.0
    for i in range(1, len(hashes)):
        left += merged[hashes[i - 1]]
        imbalance = abs(total - 2 * left)
        if best is None or imbalance < best[0]:
            best = (imbalance, hashes[i])
    assert best is not None
    return best[1]


def size_split_point(
    items: Iterable[tuple[int, int]], hash_start: int, hash_end: int
) -> int | None:
    """The split point of a partition by size: ``items`` are ``(key hash, bytes)`` of its items
    (all of them, or a sample). None when every byte is under one partition key."""
    return balanced_cut(((h, float(size)) for h, size in items), hash_start, hash_end)


@dataclass(frozen=True, slots=True)
class Access:
    """One sampled request: where it landed and what it consumed."""

    key_hash: int
    units: float


def load_split_point(
    accesses: Sequence[Access],
    hash_start: int,
    hash_end: int,
    *,
    single_key_share_max: float = SINGLE_KEY_SHARE_MAX,
    sequential_share_min: float = SEQUENTIAL_SHARE_MIN,
    samples_min: int = SAMPLES_MIN,
) -> LoadSplit:
    """Where to split for load, given ``accesses`` in the order they happened."""
    if len(accesses) < samples_min:
        return LoadSplit(None, NoSplit.TOO_FEW_SAMPLES)
    by_hash: dict[int, float] = {}
    for access in accesses:
        by_hash[access.key_hash] = by_hash.get(access.key_hash, 0.0) + access.units
    total = sum(by_hash.values())
    if len(by_hash) < 2:
        return LoadSplit(None, NoSplit.ONE_HASH)
    if total > 0 and max(by_hash.values()) / total > single_key_share_max:
        return LoadSplit(None, NoSplit.SINGLE_KEY)
    if _sequential(accesses, sequential_share_min):
        return LoadSplit(None, NoSplit.SEQUENTIAL)
    split_at = balanced_cut(by_hash.items(), hash_start, hash_end)
    assert split_at is not None  # two hashes always give a cut
    left = sum(w for h, w in by_hash.items() if h < split_at)
    return LoadSplit(split_at, None, left / total if total > 0 else 0.5)


def _sequential(accesses: Sequence[Access], share_min: float) -> bool:
    """Whether consecutive accesses to different hashes move one way through the key space for
    at least ``share_min`` of the steps (a random workload moves each way about half the time)."""
    up = down = 0
    for before, after in itertools.pairwise(accesses):
        if after.key_hash > before.key_hash:
            up += 1
        elif after.key_hash < before.key_hash:
            down += 1
    steps = up + down
    return steps > 0 and max(up, down) / steps >= share_min


@dataclass
class LoadSample:
    """A reservoir of at most ``capacity`` accesses, kept in arrival order, each access as
    likely to be kept as any other (Vitter's algorithm R, seeded: one seed, one sample)."""

    capacity: int = 512
    seed: int = 0
    seen: int = 0
    _kept: list[tuple[int, Access]] = field(default_factory=list)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError("a sample keeps at least one access")
        self._rng = random.Random(self.seed)

    def observe(self, key_hash: int, units: float) -> None:
        self.seen += 1
        access = Access(key_hash, units)
        if len(self._kept) < self.capacity:
            self._kept.append((self.seen, access))
            return
        slot = self._rng.randrange(self.seen)
        if slot < self.capacity:
            self._kept[slot] = (self.seen, access)

    def accesses(self) -> list[Access]:
        """The kept accesses, oldest first."""
        return [access for _, access in sorted(self._kept, key=lambda kept: kept[0])]

    def clear(self) -> None:
        self.seen = 0
        self._kept.clear()
