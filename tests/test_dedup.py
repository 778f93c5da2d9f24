"""First results of request ids: kept by log time and within bytes, the oldest going first.

Finding 8 of the storage node issue: results were kept for 100,000 slots whatever their size
(300 KB per ALL_OLD write), and at high write rates 100,000 slots passed inside the router's
retry window, after which a retry would have been applied again.
"""

from __future__ import annotations

from raydynamo.node.core import STAMP_INTERVAL_S, NodeLimits, WriteWaiter
from raydynamo.node.replies import Applied
from raydynamo.partition.commands import Put, Write, encode_clock, encode_write
from raydynamo.partition.dedup import DedupBounds, DedupLedger
from raydynamo.partition.keys import PartitionKeys
from raydynamo.partition.state_machine import PartitionStateMachine
from raydynamo.storage.memory import MemoryEngine
from tests.node_harness import CoreGroup

KEYS = PartitionKeys("p0")


def put(request_id: bytes, key: bytes, value: bytes) -> bytes:
    return encode_write(Write(request_id, (Put(key, value),)))


class Partition:
    """One replica's state machine on a memory engine, applying slots by hand."""

    def __init__(self, bounds: DedupBounds) -> None:
        self.engine = MemoryEngine()
        self.machine = PartitionStateMachine(KEYS, bounds)
        self.slot = 0

    def apply(self, *commands: bytes) -> list[dict]:
        self.slot += 1
        batch, results = self.machine.apply_slot(self.engine, self.slot, commands)
        self.engine.write(batch, sync=False)
        return [result for _, result in results]

    def value(self, key: bytes) -> bytes | None:
        return self.engine.get(KEYS.data(key))

    def log_time_ms(self) -> int:
        return DedupLedger(KEYS, self.machine.ledger.bounds).log_time_ms(self.engine)

    def kept(self) -> int:
        start = KEYS.dedup_prefix
        return sum(1 for _ in self.engine.scan(start, start + b"\xff"))


def test_a_replay_within_the_retention_is_answered_and_changes_nothing() -> None:
    part = Partition(DedupBounds(retention_s=10.0, bytes_max=1 << 20))
    (first,) = part.apply(put(b"r1", b"k", b"first"))
    part.apply(encode_clock(9_000))
    part.apply(put(b"other", b"k", b"other"))
    (again,) = part.apply(put(b"r1", b"k", b"replayed"))
    assert again == first and part.value(b"k") == b"other"


def test_results_older_than_the_retention_expire_by_log_time() -> None:
    part = Partition(DedupBounds(retention_s=10.0, bytes_max=1 << 20))
    part.apply(put(b"r1", b"k", b"first"))
    part.apply(encode_clock(6_000), put(b"r2", b"k2", b"v"))
    part.apply(encode_clock(6_000))  # log time 12 s: r1 (at 0 s) is gone, r2 (at 6 s) is kept
    assert part.log_time_ms() == 12_000
    assert part.kept() == 1
    (late,) = part.apply(put(b"r1", b"k", b"late"))  # past every retry window: a new request
    assert part.value(b"k") == b"late" and late["slot"] == part.slot


def test_a_stamp_advances_log_time_by_a_minute_at_most() -> None:
    part = Partition(DedupBounds(retention_s=600.0, bytes_max=1 << 20))
    part.apply(put(b"r1", b"k", b"v"))
    part.apply(encode_clock(10**9))  # a clock gone mad cannot expire everything at once
    assert part.log_time_ms() == 60_000
    assert part.kept() == 1


def test_results_past_the_byte_budget_expire_oldest_first() -> None:
    part = Partition(DedupBounds(retention_s=900.0, bytes_max=1_000))
    for i in range(100):
        part.apply(put(b"r%03d" % i, b"k%03d" % i, b"x" * 100))
    kept = [
        key[len(KEYS.dedup_prefix) :]
        for key, _ in part.engine.scan(KEYS.dedup_prefix, KEYS.dedup_prefix + b"\xff")
    ]
    assert 0 < len(kept) < 100
    assert kept == [b"r%03d" % i for i in range(100 - len(kept), 100)]  # the newest survive
    total = sum(
        len(v) + len(k) - len(KEYS.dedup_prefix)
        for k, v in part.engine.scan(KEYS.dedup_prefix, KEYS.dedup_prefix + b"\xff")
    )
    assert total <= 1_000 + 40  # the budget, give or take the last slot


def test_a_leader_stamps_its_reign_and_a_new_reign_starts_from_zero() -> None:
    """Log time never runs ahead of real time: a leader's stamps are durations on its own
    clock, and a new leader's first proposal counts nothing for the change of reign."""
    group = CoreGroup(("a", "b", "c"), NodeLimits())
    group.elect("a")
    replies: list = []
    leader = group.cores["a"]

    def write(core, rid: bytes) -> None:  # type: ignore[no-untyped-def]
        core.propose(
            "p0", [(rid, put(rid, b"k", rid))], 0, group.now, WriteWaiter(1, replies.extend)
        )
        group.pump()

    write(leader, b"w1")  # starts a's clock
    group.now += 5.0
    write(leader, b"w2")  # stamps 5 s
    group.now += 0.1 * STAMP_INTERVAL_S
    write(leader, b"w3")  # too soon for another stamp
    assert all(isinstance(r, Applied) for r in replies)
    ledger = leader.replicas["p0"].machine.ledger
    assert ledger.log_time_ms(leader.engine) == 5_000
    group.now += 100.0  # a long silence, then a new reign
    group.elect("b")
    write(group.cores["b"], b"w4")
    group.now += 2.0
    write(group.cores["b"], b"w5")  # stamps 2 s
    write(group.cores["b"], b"w6")  # no stamp; carries w5's commit to the followers
    for core in group.cores.values():  # every replica keeps the same clock
        assert core.replicas["p0"].machine.ledger.log_time_ms(core.engine) == 7_000


def test_skipping_scans_that_would_delete_nothing_changes_no_byte() -> None:
    """The ledger skips its expiry scan while the oldest kept result is young and the bytes
    fit; a state machine rebuilt before every slot (so it always scans) must write the very
    same state, over a random history of writes, replays, clock stamps and expiries."""
    import random

    rng = random.Random(11)
    bounds = DedupBounds(retention_s=2.0, bytes_max=900)
    cached, scanning = Partition(bounds), Partition(bounds)
    ids = [f"r{i}".encode() for i in range(60)]
    for step in range(600):
        roll = rng.random()
        if roll < 0.2:
            commands: tuple[bytes, ...] = (encode_clock(rng.randrange(0, 700)),)
        else:
            commands = tuple(
                put(rng.choice(ids) + str(step % 7).encode(), b"k%d" % rng.randrange(9), b"v")
                for _ in range(rng.randrange(1, 4))
            )
        scanning.machine = PartitionStateMachine(KEYS, bounds)  # no memory between slots
        assert cached.apply(*commands) == scanning.apply(*commands), step
    assert list(cached.engine.scan(b"", b"\xff")) == list(scanning.engine.scan(b"", b"\xff"))
    assert cached.kept() > 0
