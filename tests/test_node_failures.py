"""A storage node that cannot persist stops, answers everyone, and no input can stop it otherwise.

In-process storage nodes (``NodeHost`` on real RocksDB, wired by a local transport): the node's
``on_fatal`` records why it stopped (the Ray actor ends its process there instead).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from raydynamo.consensus.codec import encode_batch
from raydynamo.consensus.messages import Heartbeat
from raydynamo.consensus.types import Ballot
from raydynamo.node.core import NodeLimits, WriteWaiter
from raydynamo.node.replies import Applied, NotLeader, Overloaded, Unavailable
from raydynamo.partition.commands import Put, Write, encode_write
from raydynamo.storage.checksum import StorageError
from tests.node_harness import CoreGroup, LocalCluster

NODES = ("a", "b", "c")


def put(request_id: str, key: str, value: str) -> tuple[bytes, bytes]:
    rid = request_id.encode()
    return rid, encode_write(Write(rid, (Put(key.encode(), value.encode()),)))


def started(data_dir: str, **overrides: dict) -> LocalCluster:
    cluster = LocalCluster(data_dir, NODES, overrides or None)
    cluster.start_all()
    for node_id in NODES:
        cluster.host(node_id).host_partition("p0", NODES)
    cluster.host("a").campaign("p0")
    cluster.wait_until(lambda: cluster.leader_of("p0") == "a")
    return cluster


def test_a_failed_persist_stops_the_node_and_answers_every_waiter(data_dir: str) -> None:
    """Finding 2: the old core thread logged a failed flush and carried on; the writes waiting
    on it were never answered (the caller waited out its 120 s timeout)."""
    cluster = started(data_dir)
    follower = cluster.host("b")
    leader = cluster.host("a")

    def broken_write(batch, *, sync):  # type: ignore[no-untyped-def]
        raise StorageError("IO error: No space left on device")

    leader.core.engine.write = broken_write  # type: ignore[method-assign]
    started_at = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda i: leader.write("p0", [put(f"r{i}", "k", "v")]), range(8)))
    assert time.monotonic() - started_at < 30, "waiters were left hanging"
    assert all(isinstance(r[0], Unavailable) for r in replies)
    assert cluster.fatal and "No space left on device" in cluster.fatal[0]
    assert leader.write("p0", [put("later", "k", "v")]) == [
        Unavailable("the storage node is closing")
    ]
    # The survivors carry on: another leader takes over and serves.
    cluster.wait_until(lambda: cluster.leader_of("p0") in ("b", "c"), timeout_s=20)
    new_leader = cluster.host(cluster.leader_of("p0") or "")
    assert isinstance(new_leader.write("p0", [put("after", "k", "v2")])[0], Applied)
    assert follower.core.failed is None
    cluster.close()


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x00",
        b"garbage that is no frame at all",
        encode_batch([("p0", Heartbeat("b", Ballot(9, "b"), 3, 0.0))])[:-3],  # truncated
        bytes([encode_batch([("p0", Heartbeat("b", Ballot(9, "b"), 3, 0.0))])[0] ^ 1])
        + encode_batch([("p0", Heartbeat("b", Ballot(9, "b"), 3, 0.0))])[1:],  # flipped
        encode_batch([("p0", Heartbeat("intruder", Ballot(10**9, "intruder"), 10**9, 0.0))]),
        encode_batch([("nobody-hosts-this", Heartbeat("b", Ballot(1, "b"), 1, 0.0))]),
    ],
)
def test_a_damaged_or_forged_frame_is_dropped_and_the_node_goes_on(
    data_dir: str, frame: bytes
) -> None:
    """Finding 4: a corrupted frame from a peer (a ChecksumMismatch, not a ValueError) killed the
    node's only core thread, while the actor stayed alive: writes hung, status() hung."""
    cluster = started(data_dir)
    leader = cluster.host("a")
    before = leader.core.stats.bad_frames + leader.core.stats.foreign_messages
    leader.deliver("b", frame)
    assert isinstance(leader.write("p0", [put("x", "k", "v")])[0], Applied)
    assert leader.status()[0]["role"] == "leader"
    after = leader.core.stats.bad_frames + leader.core.stats.foreign_messages
    assert after >= before  # counted when it was damaged or forged
    assert not cluster.fatal
    cluster.close()


def test_an_overloaded_leader_refuses_at_once_without_proposing() -> None:
    """Finding 7: more than ``pending_bytes_max`` of unapplied commands is refused at once with
    Overloaded (ThrottlingException for the client): nothing is proposed, nothing resent."""
    group = CoreGroup(NODES, NodeLimits(pending_bytes_max=1 << 16))
    group.elect("a")
    leader = group.cores["a"]
    replies: list = []
    big = "v" * 60_000
    leader.propose("p0", [put("first", "k1", big)], 0, group.now, WriteWaiter(1, replies.extend))
    leader.flush(group.now)  # proposed; its Accepts are never delivered: it stays pending
    cut_before = leader.replicas["p0"].replica.log.max_slot
    leader.propose("p0", [put("second", "k2", big)], 0, group.now, WriteWaiter(1, replies.extend))
    leader.flush(group.now)
    assert replies == [Overloaded()]
    assert leader.replicas["p0"].replica.log.max_slot == cut_before  # nothing proposed
    group.pump()  # now the first one commits
    assert isinstance(replies[-1], Applied) and len(replies) == 2


def test_a_follower_refuses_writes_with_the_leader_hint(data_dir: str) -> None:
    cluster = started(data_dir)
    assert cluster.host("c").write("p0", [put("x", "k", "v")]) == [NotLeader("a")]
    cluster.close()
