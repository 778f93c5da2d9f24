"""Snapshots as storage sees them, on both engines: bounded chunks read from a consistent view,
staged beside the live state, installed by a batch whose size does not grow with the data, and
what a crash in the middle leaves removed when the replica is opened again.

Finding 9 of the storage node issue: a snapshot was built whole, in memory, on the core thread,
and installed by rewriting every key in one batch (~2.8x the data in memory, every replica on
the node stalled meanwhile).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from raydynamo.config import config_from_dict
from raydynamo.consensus.codec import encode_int
from raydynamo.node.core import NodeCore, NodeLimits
from raydynamo.partition.commands import Put, Write, encode_write
from raydynamo.partition.keys import PartitionKeys
from raydynamo.partition.snapshot import (
    PAIR_OVERHEAD_BYTES,
    SnapshotReader,
    current_generation,
    install_batch,
    pairs_digest,
    stage_batch,
    state_pairs,
)
from raydynamo.partition.state_machine import PartitionStateMachine
from raydynamo.storage.engine import Engine, WriteBatch
from raydynamo.storage.memory import MemoryEngine
from raydynamo.storage.rocks import RocksEngine
from tests.node_harness import FAST, _WireOutbox

KEYS = PartitionKeys("p0")


def open_engine(kind: str, path: Path) -> Engine:
    if kind == "memory":
        return MemoryEngine()
    return RocksEngine(str(path), write_buffer_bytes_max=4 << 20, block_cache_bytes=1 << 20)


def reopen(kind: str, engine: Engine, path: Path) -> Engine:
    """What a restart finds: the same data (a crash of a memory engine keeps everything)."""
    if isinstance(engine, MemoryEngine):
        return engine.crash_copy()
    engine.close()
    return open_engine(kind, path)


@pytest.fixture(params=["memory", "rocks"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def engines(kind: str, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    source = open_engine(kind, tmp_path / "source")
    target = open_engine(kind, tmp_path / "target")
    yield source, target
    source.close()
    target.close()


def fill(engine: Engine, keys: PartitionKeys, items: int, tag: str = "v", first: int = 1) -> int:
    """Apply ``items`` writes (one slot each, with their first results); the last slot."""
    machine = PartitionStateMachine(keys)
    slot = first - 1
    for i in range(items):
        slot += 1
        request_id = f"{tag}-{i}".encode()
        value = (tag * (20 + (i * 37) % 300)).encode()
        command = encode_write(Write(request_id, (Put(f"k{i:05}".encode(), value),)))
        batch, _ = machine.apply_slot(engine, slot, (command,))
        engine.write(batch, sync=False)
    return slot


def read_all(engine: Engine, keys: PartitionKeys, chunk_bytes_max: int) -> list:
    with engine.snapshot() as view:
        reader = SnapshotReader(view, keys, chunk_bytes_max)
        chunks = []
        while not reader.finished:
            chunks.append(reader.next_chunk())
        return [chunks, reader.digest]


def test_chunks_are_bounded_and_carry_every_state_pair_in_key_order(
    engines: tuple[Engine, Engine],
) -> None:
    source, _ = engines
    fill(source, KEYS, 200)
    chunks, digest = read_all(source, KEYS, 2000)
    pairs = [pair for chunk, _ in chunks for pair in chunk]
    assert pairs == state_pairs(source, KEYS)
    assert len(chunks) > 10
    for chunk, _ in chunks:
        cost = sum(len(k) + len(v) + PAIR_OVERHEAD_BYTES for k, v in chunk)
        assert cost <= 2000 or len(chunk) == 1
    assert [last for _, last in chunks] == [False] * (len(chunks) - 1) + [True]
    assert digest == pairs_digest(0, pairs)
    kinds = {suffix[:1] for suffix, _ in pairs}
    assert kinds == {b"s", b"d", b"r", b"x"}  # data, first results, their expiry, markers


def test_a_pair_larger_than_a_chunk_travels_alone(engines: tuple[Engine, Engine]) -> None:
    source, _ = engines
    big = encode_write(Write(b"big", (Put(b"huge", b"x" * 50_000),)))
    batch, _ = PartitionStateMachine(KEYS).apply_slot(source, 1, (big,))
    source.write(batch, sync=False)
    chunks, _ = read_all(source, KEYS, 4096)
    alone = [chunk for chunk, _ in chunks if any(len(v) >= 50_000 for _, v in chunk)]
    assert len(alone) == 1 and len(alone[0]) == 1


def test_a_view_taken_before_writes_streams_the_state_as_it_was(
    engines: tuple[Engine, Engine],
) -> None:
    source, _ = engines
    fill(source, KEYS, 50)
    before = state_pairs(source, KEYS)
    with source.snapshot() as view:
        reader = SnapshotReader(view, KEYS, 1500)
        first, _ = reader.next_chunk()
        fill(source, KEYS, 50, tag="w", first=51)  # the live state moves on meanwhile
        streamed = list(first)
        while not reader.finished:
            streamed.extend(reader.next_chunk()[0])
    assert streamed == before
    assert state_pairs(source, KEYS) != before


def test_install_makes_the_staged_copy_live_with_a_batch_that_does_not_grow_with_the_data(
    engines: tuple[Engine, Engine],
) -> None:
    source, target = engines
    last = fill(source, KEYS, 300, tag="s")
    fill(target, KEYS, 40, tag="t")  # the target's own, older state
    live_before = state_pairs(target, KEYS)
    staging = KEYS.at(1)
    chunks, _ = read_all(source, KEYS, 3000)
    for seq, (chunk, _) in enumerate(chunks):
        target.write(stage_batch(staging, chunk, first=seq == 0), sync=False)
        assert state_pairs(target, KEYS) == live_before  # staging is not live state
    assert current_generation(target, KEYS) == 0
    small = install_batch(KEYS, staging, 1)
    big = install_batch(KEYS, staging, last)
    assert len(big.ops) == len(small.ops) <= 8
    target.write(big, sync=True)
    assert current_generation(target, KEYS) == 1
    assert state_pairs(target, staging) == state_pairs(source, KEYS)
    for start, end in KEYS.state_ranges():
        assert list(target.scan(start, end)) == []  # the old generation is gone


def test_the_first_chunk_of_a_new_transfer_clears_an_abandoned_one(
    engines: tuple[Engine, Engine],
) -> None:
    source, target = engines
    fill(source, KEYS, 100, tag="a")
    staging = KEYS.at(1)
    chunks, _ = read_all(source, KEYS, 1000)
    for chunk, _ in chunks[: len(chunks) // 2]:  # half of a transfer, then it stalls
        target.write(stage_batch(staging, chunk, first=False), sync=False)
    other = MemoryEngine()
    fill(other, KEYS, 5, tag="b")
    (retry, _), *rest = read_all(other, KEYS, 1 << 20)[0]
    assert not rest
    target.write(stage_batch(staging, retry, first=True), sync=False)
    assert state_pairs(target, staging) == list(retry)


def core_on(engine: Engine) -> NodeCore:
    settings = config_from_dict(FAST).consensus.to_settings()
    return NodeCore("a", engine, settings, _WireOutbox("a", []), limits=NodeLimits())


def test_recovery_removes_what_an_unfinished_transfer_left_and_keeps_the_live_state(
    kind: str, tmp_path: Path
) -> None:
    path = tmp_path / "node"
    engine = open_engine(kind, path)
    core = core_on(engine)
    core.host("p0", ("a", "b", "c"), False, 0.0)
    fill(engine, KEYS, 30, tag="live")
    live = state_pairs(engine, KEYS)
    source = MemoryEngine()
    fill(source, KEYS, 80, tag="snap")
    chunks, _ = read_all(source, KEYS, 1000)
    for seq, (chunk, _) in enumerate(chunks[:3]):  # the process dies after three chunks
        engine.write(stage_batch(KEYS.at(1), chunk, first=seq == 0), sync=False)
    engine = reopen(kind, engine, path)
    restarted = core_on(engine)
    restarted.recover(0.0)
    assert restarted.snapshot_stats.garbage_removed == 1
    assert state_pairs(engine, KEYS.at(1)) == []
    assert restarted.partition_state("p0")[1] == live
    engine.close()


def test_recovery_at_a_later_generation_removes_every_other_one(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "node"
    engine = open_engine(kind, path)
    core_on(engine).host("p0", ("a", "b", "c"), False, 0.0)
    fill(engine, KEYS, 10, tag="old")  # generation 0 left behind
    fill(engine, KEYS.at(2), 10, tag="live")
    fill(engine, KEYS.at(3), 10, tag="staged")
    batch = WriteBatch()
    batch.put(KEYS.generation_key, encode_int(2))
    engine.write(batch, sync=True)
    live = state_pairs(engine, KEYS.at(2))
    engine = reopen(kind, engine, path)
    core = core_on(engine)
    core.recover(0.0)
    assert core.replicas["p0"].keys.generation == 2
    assert state_pairs(engine, KEYS) == [] and state_pairs(engine, KEYS.at(3)) == []
    assert core.partition_state("p0") == (10, live)
    engine.close()
