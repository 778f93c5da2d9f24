"""Snapshot transfers between node cores: flow control, the receiver's rules, installs, and
exactly-once across a snapshot (cores driven by hand, no threads, no time passing unless a test
moves it)."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from raydynamo.config import config_from_dict
from raydynamo.consensus.codec import CodecError, decode_batch, encode_batch
from raydynamo.consensus.membership import Config
from raydynamo.consensus.messages import Heartbeat, Message, SnapshotAck, SnapshotChunk
from raydynamo.consensus.types import Ballot
from raydynamo.node.core import NodeCore, NodeLimits, WriteWaiter
from raydynamo.node.replies import Applied
from raydynamo.node.transfers import OutgoingTransfer, SnapshotPump
from raydynamo.partition.commands import Put, Write, encode_write
from raydynamo.partition.keys import PartitionKeys
from raydynamo.partition.snapshot import SnapshotReader, pairs_digest, state_pairs
from raydynamo.storage.checksum import seal
from raydynamo.storage.memory import MemoryEngine
from tests.node_harness import FAST, CoreGroup
from tests.test_snapshots import fill

KEYS = PartitionKeys("p0")
MEMBERS = ("a", "b", "c")
STALL_S = 5.0


class Recorder:
    def __init__(self) -> None:
        self.posted: list[tuple[str, str, Message]] = []

    def post(self, peer: str, partition_id: str, message: Any) -> None:
        self.posted.append((peer, partition_id, message))

    def acks(self) -> list[SnapshotAck]:
        return [m for _, _, m in self.posted if isinstance(m, SnapshotAck)]


def receiver() -> tuple[NodeCore, Recorder]:
    outbox = Recorder()
    settings = config_from_dict(FAST).consensus.to_settings()
    limits = NodeLimits(snapshot_stall_s=STALL_S)
    core = NodeCore("c", MemoryEngine(), settings, outbox, limits=limits)
    core.host("p0", MEMBERS, False, 0.0)
    core.flush(0.0)
    return core, outbox


def source_chunks(
    items: int = 120, transfer_id: bytes = b"t1", sender: str = "a", chunk_bytes: int = 1500
) -> tuple[list[SnapshotChunk], MemoryEngine]:
    engine = MemoryEngine()
    last = fill(engine, KEYS, items, tag=transfer_id.decode())
    configs = (Config(0, MEMBERS),)
    with engine.snapshot() as view:
        reader = SnapshotReader(view, KEYS, chunk_bytes)
        chunks = []
        while not reader.finished:
            pairs, done = reader.next_chunk()
            chunk = SnapshotChunk(
                sender, transfer_id, len(chunks), last, configs, pairs, reader.digest, done
            )
            chunks.append(chunk)
    return chunks, engine


def send(core: NodeCore, chunk: SnapshotChunk, now: float = 1.0) -> None:
    core.receive(chunk.sender, encode_batch([("p0", chunk)]), now)
    core.flush(now)


def staged(core: NodeCore) -> list[tuple[bytes, bytes]]:
    hosted = core.replicas["p0"]
    return state_pairs(core.engine, hosted.keys.at(hosted.keys.generation + 1))


def test_chunks_install_once_all_arrived_and_the_state_matches_the_sender() -> None:
    core, outbox = receiver()
    chunks, source = source_chunks()
    assert len(chunks) > 5
    for chunk in chunks[:-1]:
        send(core, chunk)
        assert core.replicas["p0"].keys.generation == 0  # nothing live changed yet
    send(core, chunks[-1])
    hosted = core.replicas["p0"]
    assert hosted.keys.generation == 1
    assert core.partition_state("p0") == (chunks[-1].last_slot, state_pairs(source, KEYS))
    assert hosted.replica.log.applied_through == chunks[-1].last_slot
    assert [(a.seq, a.accepted) for a in outbox.acks()] == [(c.seq, True) for c in chunks]
    assert core.snapshot_stats.installed == 1


def test_duplicated_chunks_are_acknowledged_again_and_staged_once() -> None:
    core, outbox = receiver()
    chunks, source = source_chunks()
    for chunk in chunks:
        send(core, chunk)
        send(core, chunk)  # a duplicate: acknowledged again, staged once
    assert core.partition_state("p0")[1] == state_pairs(source, KEYS)
    assert core.snapshot_stats.chunks_staged == len(chunks)
    assert outbox.acks()[-1] == SnapshotAck("c", b"t1", chunks[-1].seq, True)  # last, again


def test_a_chunk_past_a_gap_ends_the_transfer_so_the_sender_starts_over() -> None:
    # The sender only sends a chunk once the one before was acknowledged, so a gap means this
    # staging lost what it acknowledged (a restart, then a delayed first chunk reopening it):
    # refused at once, rather than dropped while both ends wait out the stall timeout.
    core, outbox = receiver()
    chunks, _source = source_chunks()
    assert len(chunks) >= 3
    send(core, chunks[0])
    send(core, chunks[2])
    assert [(a.seq, a.accepted) for a in outbox.acks()] == [(0, True), (2, False)]
    assert core.replicas["p0"].incoming is None  # what was staged is discarded
    send(core, chunks[1])  # the old transfer's next chunk: not opened here any more
    assert outbox.acks()[-1].accepted is False
    assert core.snapshot_stats.installed == 0


def test_a_chunk_of_a_transfer_the_receiver_did_not_open_is_dropped_and_refused() -> None:
    core, outbox = receiver()
    chunks, _ = source_chunks()
    send(core, chunks[3])  # e.g. this node restarted in the middle: its sender must stop
    assert outbox.acks() == [SnapshotAck("c", b"t1", 3, False)] and staged(core) == []
    assert core.snapshot_stats.chunks_dropped == 1


def test_a_chunk_whose_pairs_do_not_match_the_digest_ends_the_transfer() -> None:
    core, outbox = receiver()
    chunks, _ = source_chunks()
    send(core, chunks[0])
    forged = chunks[1]
    pairs = ((forged.pairs[0][0], b"not what was read"), *forged.pairs[1:])
    send(core, SnapshotChunk(**{**_fields(forged), "pairs": pairs}))
    assert outbox.acks()[-1] == SnapshotAck("c", b"t1", 1, False)
    assert staged(core) == [] and core.replicas["p0"].incoming is None
    assert core.snapshot_stats.chunks_corrupt == 1


def test_a_key_outside_the_state_is_refused() -> None:
    core, outbox = receiver()
    chunks, _ = source_chunks()
    bad = ((b"mp", b"a promise smuggled in"),)
    chunk = SnapshotChunk(**{**_fields(chunks[0]), "pairs": bad, "digest": pairs_digest(0, bad)})
    send(core, chunk)
    assert outbox.acks() == [SnapshotAck("c", b"t1", 0, False)]
    assert core.engine.get(KEYS.promised) is None


def test_a_leader_and_a_replica_past_the_snapshot_refuse_it() -> None:
    group = CoreGroup(MEMBERS)
    group.elect("a")
    chunks, _ = source_chunks()
    leader = group.cores["a"]
    leader.receive(
        "b",
        encode_batch([("p0", SnapshotChunk(**{**_fields(chunks[0]), "sender": "b"}))]),
        group.now,
    )
    assert leader.snapshot_stats.transfers_accepted == 0
    assert isinstance(decode_batch(group.wire[-1][2])[0][1], SnapshotAck)
    core, outbox = receiver()
    for chunk in chunks:
        send(core, chunk)
    again, _ = source_chunks(transfer_id=b"t2")  # the same slot: already applied
    send(core, again[0])
    assert outbox.acks()[-1] == SnapshotAck("c", b"t2", 0, False)


def test_a_stalled_transfer_is_abandoned_and_the_next_one_starts_from_scratch() -> None:
    core, outbox = receiver()
    chunks, _ = source_chunks()
    send(core, chunks[0])
    send(core, chunks[1])
    assert staged(core)
    core.tick(1.0 + STALL_S + 0.1)
    assert staged(core) == [] and core.replicas["p0"].incoming is None
    send(core, chunks[2], now=10.0)  # the old transfer carries on: nobody expects it
    assert outbox.acks()[-1] == SnapshotAck("c", b"t1", 2, False)
    other, source = source_chunks(items=30, transfer_id=b"t9", sender="b")
    for chunk in other:
        send(core, chunk, now=11.0)
    assert core.partition_state("p0")[1] == state_pairs(source, KEYS)


def test_another_nodes_transfer_waits_but_the_same_node_may_start_over() -> None:
    core, outbox = receiver()
    chunks, _ = source_chunks()
    send(core, chunks[0])
    other, _ = source_chunks(transfer_id=b"t5", sender="b")
    send(core, other[0])
    assert outbox.acks()[-1] == SnapshotAck("c", b"t5", 0, False)
    restarted, source = source_chunks(items=40, transfer_id=b"t6")  # "a" restarted: a new id
    for chunk in restarted:
        send(core, chunk)
    assert core.partition_state("p0")[1] == state_pairs(source, KEYS)


def test_the_leader_s_transfer_replaces_one_from_another_node() -> None:
    """An old leader's transfer may never finish (it was removed, its partition dropped): the
    leader the replica follows need not wait for it to stall."""
    core, outbox = receiver()
    chunks, _ = source_chunks(sender="b")
    send(core, chunks[0])
    heartbeat = Heartbeat("a", Ballot(7, "a"), 0, 1.0)
    core.receive("a", encode_batch([("p0", heartbeat)]), 1.0)
    core.flush(1.0)
    assert core.replicas["p0"].replica.leader_id == "a"
    mine, source = source_chunks(items=60, transfer_id=b"t7", sender="a")
    for chunk in mine:
        send(core, chunk)
    assert core.partition_state("p0")[1] == state_pairs(source, KEYS)
    send(core, chunks[1])  # the old one goes on: refused, so that its sender stops
    assert outbox.acks()[-1] == SnapshotAck("c", b"t1", 1, False)


def test_a_new_transfer_in_the_round_that_installs_the_last_one_waits() -> None:
    """The host feeds several frames to the core before each flush: a new transfer's first
    chunk must not clear a staged generation that the flush is about to install."""
    core, outbox = receiver()
    chunks, source = source_chunks()
    for chunk in chunks[:-1]:
        send(core, chunk)
    newer, _ = source_chunks(items=130, transfer_id=b"t2")
    for chunk in (chunks[-1], newer[0]):
        core.receive("a", encode_batch([("p0", chunk)]), 1.0)
    core.flush(1.0)
    assert core.partition_state("p0")[1] == state_pairs(source, KEYS)
    assert outbox.acks()[-1] == SnapshotAck("c", b"t1", chunks[-1].seq, True)  # t2: no answer
    send(core, newer[0], now=2.0)  # asked again after the install: a newer state, accepted
    assert outbox.acks()[-1] == SnapshotAck("c", b"t2", 0, True)


def test_the_sender_reads_the_next_chunk_only_once_the_previous_one_is_acknowledged() -> None:
    engine = MemoryEngine()
    fill(engine, KEYS, 100)
    view = engine.snapshot()
    transfer = OutgoingTransfer(b"t", "p0", "a", "c", 100, (), view, KEYS, 1000, now=0.0)
    first = transfer.chunk_to_send(0.0)
    read = transfer.reader.pairs_read
    assert transfer.chunk_to_send(1.0) is first  # no acknowledgement: the same chunk again
    assert transfer.reader.pairs_read == read
    transfer.on_ack(SnapshotAck("c", b"t", 5, True), 1.0)  # for no chunk sent: ignored
    assert transfer.chunk_to_send(1.0) is first
    transfer.on_ack(SnapshotAck("c", b"t", 0, True), 2.0)
    second = transfer.chunk_to_send(2.0)
    assert second.seq == 1 and transfer.reader.pairs_read > read
    transfer.on_ack(SnapshotAck("c", b"t", 1, False), 3.0)
    assert transfer.refused and transfer.finished
    transfer.close()
    transfer.close()


def test_a_node_sends_one_transfer_per_partition_and_peer_and_at_most_its_bound() -> None:
    pump = SnapshotPump(transfers_max=2, resend_s=0.1, stall_s=1.0)
    engine = MemoryEngine()

    def transfer(pid: str, peer: str) -> OutgoingTransfer:
        keys = PartitionKeys(pid)
        return OutgoingTransfer(
            b"x" + pid.encode(), pid, "a", peer, 1, (), engine.snapshot(), keys, 100, 0.0
        )

    pump.start(transfer("p0", "b"))
    assert not pump.can_start("p0", "b")
    assert pump.can_start("p1", "b")
    pump.start(transfer("p1", "b"))
    assert not pump.can_start("p2", "c")
    pump.cancel("p0")
    assert pump.can_start("p2", "c")
    assert pump.counts.started == 2 and pump.counts.abandoned == 1


def test_a_replica_behind_the_compaction_point_catches_up_through_many_chunks() -> None:
    group = CoreGroup(MEMBERS, NodeLimits(snapshot_chunk_bytes=600))
    group.elect("a")
    leader = group.cores["a"]
    group.isolated.add("c")
    replies: list = []
    for i in range(80):
        command = _put(f"r{i}", f"k{i}", "v" * 40)
        leader.propose("p0", [command], 0, group.now, WriteWaiter(1, replies.extend))
        group.pump()
    assert all(isinstance(r, Applied) for r in replies) and len(replies) == 80
    log = leader.replicas["p0"].replica.log
    assert log.compacted_through > group.cores["c"].replicas["p0"].replica.log.chosen_through
    group.isolated.clear()
    group.now += 0.05
    leader.tick(group.now)  # a heartbeat: "c" learns it is behind and asks
    group.pump(rounds_max=500)
    behind = group.cores["c"]
    assert behind.replicas["p0"].keys.generation == 1
    assert behind.partition_state("p0") == leader.partition_state("p0")
    sender = group.pumps["a"].counts
    assert sender.completed == 1 and sender.completed_multichunk == 1
    assert sender.chunks_sent > 10


def test_first_results_travel_with_the_snapshot_so_a_retry_is_not_applied_again() -> None:
    group = CoreGroup(MEMBERS, NodeLimits(snapshot_chunk_bytes=800))
    group.elect("a")
    leader = group.cores["a"]
    group.isolated.add("c")
    first: list = []
    leader.propose("p0", [_put("once", "k", "first")], 0, group.now, WriteWaiter(1, first.extend))
    group.pump()
    for i in range(60):
        leader.propose("p0", [_put(f"r{i}", f"k{i}", "x")], 0, group.now, WriteWaiter(1, list))
        group.pump()
    group.isolated.clear()
    group.now += 0.05
    leader.tick(group.now)
    group.pump(rounds_max=500)
    assert group.cores["c"].replicas["p0"].keys.generation == 1
    assert leader.transfer_leadership("p0", "c", group.now)
    new_leader = group.cores["c"]
    for _ in range(50):  # the hand-off runs on the leader's ticks
        group.now += 0.02
        for core in group.cores.values():
            core.tick(group.now)
        group.pump(rounds_max=500)
        if new_leader.replicas["p0"].replica.role.value == "leader":
            break
    assert new_leader.replicas["p0"].replica.role.value == "leader"
    again: list = []
    new_leader.propose(
        "p0", [_put("once", "k", "second")], 0, group.now, WriteWaiter(1, again.extend)
    )
    group.pump(rounds_max=500)
    (reply,) = again
    assert isinstance(reply, Applied) and reply.result == first[0].result
    assert new_leader.read_values("p0", [b"k"]) == [b"first"]


def test_chunk_and_acknowledgement_frames_round_trip_and_bad_ones_are_refused() -> None:
    chunks, _ = source_chunks(items=10)
    ack = SnapshotAck("c", b"t1", 3, True)
    assert decode_batch(encode_batch([("p0", chunks[0]), ("p0", ack)])) == [
        ("p0", chunks[0]),
        ("p0", ack),
    ]
    not_bytes = [15, "a", b"t", 0, 1, [], [["d", b"v"]], 0, True]
    negative = [16, "c", b"t", -1, True]
    install = [10, "a", 5, b"whole state", []]  # no longer a message that travels
    for body in (not_bytes, negative, install):
        frame = seal(msgpack.packb([["p0", body]], use_bin_type=True))
        with pytest.raises(CodecError):
            decode_batch(frame)


def _fields(chunk: SnapshotChunk) -> dict[str, Any]:
    return {name: getattr(chunk, name) for name in SnapshotChunk.__slots__}


def _put(request_id: str, key: str, value: str) -> tuple[bytes, bytes]:
    rid = request_id.encode()
    return rid, encode_write(Write(rid, (Put(key.encode(), value.encode()),)))
