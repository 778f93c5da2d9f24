"""Storage node logic on real RocksDB, three nodes in one process (no Ray)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from raydynamo.actors.host import NodeHost
from raydynamo.node.replies import Applied, NotLeader, StaleMap
from raydynamo.partition.commands import Put, Write, encode_write
from raydynamo.storage.engine import Snapshot
from tests.node_harness import LocalCluster

NODES = ("a", "b", "c")


def put(request_id: str, key: str, value: str) -> tuple[bytes, bytes]:
    rid = request_id.encode()
    return rid, encode_write(Write(rid, (Put(key.encode(), value.encode()),)))


def started(data_dir: str, leader: str = "a") -> LocalCluster:
    cluster = LocalCluster(data_dir, NODES)
    cluster.start_all()
    for node_id in NODES:
        cluster.host(node_id).host_partition("p0", NODES)
    cluster.host(leader).campaign("p0")
    cluster.wait_until(lambda: cluster.leader_of("p0") == leader)
    return cluster


def write_through_leader(cluster: LocalCluster, op: tuple[bytes, bytes]) -> Applied:
    """Write as a client does: to the current leader, again (same request id) when leadership
    moved meanwhile, which a machine starved of CPU can make happen at any time."""
    outcome: list[Applied] = []

    def attempt() -> bool:
        leader = cluster.leader_of("p0")
        if leader is None:
            return False
        reply = cluster.host(leader).write("p0", [op])[0]
        if isinstance(reply, Applied):
            outcome.append(reply)
            return True
        return False

    cluster.wait_until(attempt)
    return outcome[0]


def strong_read(cluster: LocalCluster, keys: list[bytes]) -> list[bytes | None]:
    """A strongly consistent read at whichever replica leads (and holds its lease) now."""
    outcome: list[list[bytes | None]] = []

    def attempt() -> bool:
        leader = cluster.leader_of("p0")
        if leader is None:
            return False
        got = cluster.host(leader).read("p0", keys, consistent=True)
        if isinstance(got, list):
            outcome.append(got)
            return True
        return False

    cluster.wait_until(attempt)
    return outcome[0]


def applied(cluster: LocalCluster, node_id: str) -> int:
    return cluster.host(node_id).core.replicas["p0"].replica.log.applied_through


def test_writes_replicate_and_reads_see_them(data_dir: str) -> None:
    cluster = started(data_dir)
    leader = cluster.host("a")
    with ThreadPoolExecutor(16) as pool:
        results = list(
            pool.map(lambda i: leader.write("p0", [put(f"r{i}", f"k{i}", f"v{i}")]), range(50))
        )
    assert all(isinstance(r[0], Applied) for r in results)
    got = leader.read("p0", [b"k7", b"missing"], consistent=True)
    assert got == [b"v7", None]
    cluster.wait_until(lambda: all(applied(cluster, n) >= applied(cluster, "a") for n in NODES))
    states = {n: cluster.host(n).partition_state("p0") for n in NODES}
    assert states["a"] == states["b"] == states["c"]
    assert cluster.host("b").write("p0", [put("x", "k", "v")]) == [NotLeader("a")]
    assert cluster.host("b").read("p0", [b"k"], consistent=True) == NotLeader("a")
    cluster.close()


def test_replayed_request_id_is_answered_not_reapplied(data_dir: str) -> None:
    cluster = started(data_dir)
    leader = cluster.host("a")
    first = leader.write("p0", [put("same", "k", "first")])
    again = leader.write("p0", [put("same", "k", "second")])
    assert isinstance(first[0], Applied) and isinstance(again[0], Applied)
    assert first[0].result == again[0].result == {"ok": True, "slot": first[0].slot}
    assert again[0].slot > first[0].slot
    assert leader.read("p0", [b"k"], consistent=True) == [b"first"]
    cluster.close()


@pytest.mark.parametrize("writes_while_down", [30, 150])
def test_leader_crash_loses_no_acknowledged_write_and_restart_catches_up(
    data_dir: str, writes_while_down: int
) -> None:
    """With 150 writes while down, the survivors compact past the crashed node's log and it
    must come back through a snapshot."""
    cluster = started(data_dir)
    acked = {}
    for i in range(30):
        res = cluster.host("a").write("p0", [put(f"r{i}", f"k{i}", f"v{i}")])
        assert isinstance(res[0], Applied)
        acked[f"k{i}".encode()] = f"v{i}".encode()
    crashed_at = applied(cluster, "a")
    cluster.crash("a")
    cluster.wait_until(lambda: cluster.leader_of("p0") in ("b", "c"))
    assert strong_read(cluster, list(acked)) == list(acked.values())
    for i in range(30, 30 + writes_while_down):
        write_through_leader(cluster, put(f"r{i}", f"k{i}", f"v{i}"))
    new_leader = cluster.host(cluster.leader_of("p0") or "b")
    if writes_while_down == 150:  # the survivors dropped slots "a" still needs
        assert new_leader.core.replicas["p0"].replica.log.compacted_through > crashed_at
    cluster.start("a")
    target = new_leader.core.replicas["p0"].replica.log.applied_through
    cluster.wait_until(lambda: applied(cluster, "a") >= target)
    assert cluster.host("a").partition_state("p0") == new_leader.partition_state("p0")
    cluster.close()


def test_requests_routed_by_an_older_map_are_refused(data_dir: str) -> None:
    cluster = started(data_dir)
    leader = cluster.host("a")
    leader.set_map_version("p0", 5)
    assert leader.write("p0", [put("old", "k", "v")], map_version=4) == [StaleMap(5)]
    assert leader.read_items("p0", [], True, map_version=4) == StaleMap(5)
    assert isinstance(leader.write("p0", [put("new", "k", "v")], map_version=5)[0], Applied)
    assert isinstance(leader.write("p0", [put("any", "k", "v")])[0], Applied)  # unversioned
    cluster.close()


class GatedView(Snapshot):
    """An engine snapshot whose scans stop after ``pairs_before_gate`` pairs until ``gate`` is
    set (a large partition read from a slow disk, for as long as a test wants)."""

    def __init__(
        self, view: Snapshot, reached: threading.Event, gate: threading.Event, pairs: int
    ) -> None:
        self.view = view
        self.reached = reached
        self.gate = gate
        self.pairs_left = pairs

    def get(self, key: bytes) -> bytes | None:
        return self.view.get(key)

    def multi_get(self, keys: Sequence[bytes]) -> list[bytes | None]:
        return self.view.multi_get(keys)

    def scan(
        self,
        start: bytes,
        end: bytes | None = None,
        *,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        for pair in self.view.scan(start, end, reverse=reverse, limit=limit):
            self.pairs_left -= 1
            if self.pairs_left == 0:
                self.reached.set()
                assert self.gate.wait(timeout=60), "the test never opened the gate"
            yield pair

    def close(self) -> None:
        self.view.close()


def gate_snapshots(host: NodeHost, pairs: int) -> tuple[threading.Event, threading.Event]:
    """Make the snapshots ``host`` serves stop after ``pairs`` pairs; (reached, gate)."""
    reached, gate = threading.Event(), threading.Event()
    engine = host.core.engine
    take = engine.snapshot
    engine.snapshot = lambda: GatedView(take(), reached, gate, pairs)  # type: ignore[method-assign]
    return reached, gate


SNAPSHOT_CONFIG = {
    "node": {"tick_interval_s": 0.01, "snapshot_chunk_bytes": 16 << 10, "snapshot_stall_s": 1.0}
}


def two_partitions(data_dir: str) -> LocalCluster:
    cluster = LocalCluster(data_dir, NODES, SNAPSHOT_CONFIG)
    cluster.start_all()
    for partition_id in ("big", "small"):
        for node_id in NODES:
            cluster.host(node_id).host_partition(partition_id, NODES)
        cluster.host("a").campaign(partition_id)
        cluster.wait_until(lambda pid=partition_id: cluster.leader_of(pid) == "a")
    return cluster


def fill_while_down(cluster: LocalCluster, down: str, partition_id: str, writes: int) -> None:
    """``writes`` puts of 4 KB to ``partition_id`` while ``down`` is down: enough slots that the
    others compact past it, enough bytes for many chunks."""
    cluster.crash(down)
    leader = cluster.host("a")
    for i in range(writes):
        reply = leader.write(partition_id, [put(f"{partition_id}{i}", f"k{i}", "x" * 4000)])
        assert isinstance(reply[0], Applied)
    log = leader.core.replicas[partition_id].replica.log
    assert log.compacted_through > 0


def caught_up(cluster: LocalCluster, node_id: str, partition_id: str) -> bool:
    target = cluster.host("a").core.replicas[partition_id].replica.log.applied_through
    hosted = cluster.host(node_id).core.replicas.get(partition_id)
    return hosted is not None and hosted.replica.log.applied_through >= target


def test_a_large_snapshot_does_not_stall_the_sending_nodes_other_partitions(
    data_dir: str,
) -> None:
    """Finding 9: the node built the whole snapshot on its core thread, so every replica it
    hosts stalled meanwhile. Here the snapshot's read is held in the middle for as long as the
    test wants, and the sending node's other partition keeps committing writes."""
    cluster = two_partitions(data_dir)
    fill_while_down(cluster, "c", "big", 120)
    sender = cluster.host("a")
    reached, gate = gate_snapshots(sender, pairs=60)
    cluster.start("c")
    assert reached.wait(timeout=120), "no snapshot of the big partition was read"
    with ThreadPoolExecutor(1) as pool:
        for i in range(20):  # while the snapshot's read is stuck in the middle
            reply = pool.submit(sender.write, "small", [put(f"s{i}", f"k{i}", "v")])
            assert isinstance(reply.result(timeout=30)[0], Applied)
    assert sender.snapshots.running  # the transfer is still under way
    receiver = cluster.host("c")
    assert receiver.core.replicas["big"].keys.generation == 0  # and nothing installed yet
    assert receiver.core.snapshot_stats.chunks_staged >= 1  # its first chunks arrived
    gate.set()
    cluster.wait_until(lambda: caught_up(cluster, "c", "big"))
    assert receiver.core.replicas["big"].keys.generation == 1
    assert receiver.partition_state("big") == sender.partition_state("big")
    cluster.wait_until(lambda: sender.stats["snapshot_transfers_completed"] == 1)
    assert sender.stats["snapshot_chunks_sent"] > 10
    cluster.close()


def test_a_receiver_that_crashes_mid_transfer_drops_the_staging_and_gets_a_new_one(
    data_dir: str,
) -> None:
    cluster = two_partitions(data_dir)
    fill_while_down(cluster, "c", "big", 60)
    sender = cluster.host("a")
    reached, gate = gate_snapshots(sender, pairs=25)  # about six chunks in
    cluster.start("c")
    assert reached.wait(timeout=120)
    cluster.wait_until(lambda: cluster.host("c").core.snapshot_stats.chunks_staged >= 3)
    cluster.crash("c")  # staged chunks on its disk, no install
    receiver = cluster.start("c")
    assert receiver.core.snapshot_stats.garbage_removed == 1
    assert receiver.core.replicas["big"].keys.generation == 0
    gate.set()  # the old transfer goes on to a receiver that no longer expects it
    cluster.wait_until(lambda: caught_up(cluster, "c", "big"))
    assert receiver.partition_state("big") == sender.partition_state("big")
    cluster.wait_until(lambda: sender.stats["snapshot_transfers_completed"] >= 1)
    assert sender.stats["snapshot_transfers_abandoned"] >= 1
    assert receiver.core.snapshot_stats.chunks_dropped >= 1
    cluster.close()
