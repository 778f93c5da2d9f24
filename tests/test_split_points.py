"""Split points: by bytes and by load, with the paper's two exceptions (one hot key, a sequential
walk), and the bounded load sample they are decided from."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raydynamo.metadata.partition_map import HASH_SPACE
from raydynamo.partition.split_points import (
    Access,
    LoadSample,
    NoSplit,
    balanced_cut,
    load_split_point,
    size_split_point,
)

weighted = st.lists(
    st.tuples(st.integers(0, HASH_SPACE - 1), st.floats(0, 1e6, allow_nan=False)),
    min_size=1,
    max_size=60,
)


@given(weighted)
def test_the_cut_is_the_most_even_one_between_observed_hashes(
    items: list[tuple[int, float]],
) -> None:
    cut = balanced_cut(items, 0, HASH_SPACE)
    hashes = sorted({h for h, _ in items})
    if len(hashes) < 2:
        assert cut is None
        return
    assert cut in hashes[1:]  # both children hold an observed hash
    total = sum(w for _, w in items)

    def imbalance(at: int) -> float:
        return abs(total - 2 * sum(w for h, w in items if h < at))

    assert imbalance(cut) <= min(imbalance(h) for h in hashes[1:]) + 1e-6 * max(total, 1.0)


def test_size_split_follows_the_bytes_not_the_midpoint() -> None:
    # Nine small items low in the range and one large one high: the bytes decide.
    items = [(1_000 + i, 100) for i in range(9)] + [(HASH_SPACE - 5, 900)]
    assert size_split_point(items, 0, HASH_SPACE) == HASH_SPACE - 5
    even = [(i * (HASH_SPACE // 10), 100) for i in range(10)]
    assert size_split_point(even, 0, HASH_SPACE) == 5 * (HASH_SPACE // 10)


def test_an_item_collection_is_never_cut() -> None:
    assert size_split_point([(42, 1_000_000), (42, 5)], 0, HASH_SPACE) is None


def test_hashes_outside_the_partition_are_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        size_split_point([(10, 1), (500, 1)], 100, 1_000)


def random_accesses(rng: random.Random, count: int, hashes: list[int]) -> list[Access]:
    return [Access(rng.choice(hashes), 1.0) for _ in range(count)]


def test_a_load_split_divides_the_observed_load_and_ignores_the_midpoint() -> None:
    rng = random.Random(7)
    # The load sits in the lowest tenth of the range, spread over 50 keys.
    hot = [rng.randrange(HASH_SPACE // 10) for _ in range(50)]
    decision = load_split_point(random_accesses(rng, 2_000, hot), 0, HASH_SPACE)
    assert decision.refused is None and decision.split_at is not None
    assert decision.split_at < HASH_SPACE // 10
    assert 0.4 <= decision.left_share <= 0.6


def test_one_hot_key_is_not_split() -> None:
    rng = random.Random(8)
    background = [rng.randrange(HASH_SPACE) for _ in range(100)]
    accesses = [
        Access(12345, 1.0) if rng.random() < 0.8 else Access(rng.choice(background), 1.0)
        for _ in range(1_000)
    ]
    assert load_split_point(accesses, 0, HASH_SPACE).refused is NoSplit.SINGLE_KEY
    assert load_split_point([Access(9, 1.0)] * 100, 0, HASH_SPACE).refused is NoSplit.ONE_HASH


def test_a_sequential_walk_is_not_split_but_a_random_one_is() -> None:
    walk = [Access(i * (HASH_SPACE // 1_000), 1.0) for i in range(1_000)]
    assert load_split_point(walk, 0, HASH_SPACE).refused is NoSplit.SEQUENTIAL
    assert load_split_point(walk[::-1], 0, HASH_SPACE).refused is NoSplit.SEQUENTIAL
    shuffled = list(walk)
    random.Random(9).shuffle(shuffled)
    assert load_split_point(shuffled, 0, HASH_SPACE).refused is None


def test_too_few_samples_decide_nothing() -> None:
    few = [Access(i, 1.0) for i in range(5)]
    assert load_split_point(few, 0, HASH_SPACE).refused is NoSplit.TOO_FEW_SAMPLES


def test_units_weigh_more_than_counts() -> None:
    # Many cheap reads on the left, a few 40-unit writes on the right: the units decide.
    rng = random.Random(10)
    left = [Access(rng.randrange(HASH_SPACE // 2), 1.0) for _ in range(400)]
    right = [Access(HASH_SPACE // 2 + rng.randrange(HASH_SPACE // 2), 40.0) for _ in range(10)]
    accesses = left + right
    rng.shuffle(accesses)
    decision = load_split_point(accesses, 0, HASH_SPACE)
    assert decision.split_at is not None and decision.split_at >= HASH_SPACE // 2


def test_the_sample_is_bounded_seeded_and_in_arrival_order() -> None:
    first, second = LoadSample(capacity=64, seed=3), LoadSample(capacity=64, seed=3)
    for i in range(10_000):
        first.observe(i, 1.0)
        second.observe(i, 1.0)
    kept = first.accesses()
    assert len(kept) == 64 and first.seen == 10_000
    assert kept == second.accesses()
    assert [a.key_hash for a in kept] == sorted(a.key_hash for a in kept)
    # Uniform over the stream: the kept accesses are not bunched at its start or its end.
    assert 2_000 < sum(a.key_hash for a in kept) / len(kept) < 8_000
    first.clear()
    assert first.accesses() == [] and first.seen == 0


def test_a_sample_keeps_at_least_one_access() -> None:
    with pytest.raises(ValueError):
        LoadSample(capacity=0)
