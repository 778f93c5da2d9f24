"""Storage node logic on real RocksDB, three nodes in one process (no Ray)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from raydynamo.node.replies import Applied, NotLeader, StaleMap
from raydynamo.partition.commands import Put, Write, encode_write
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
    cluster.wait_until(lambda: cluster.leader_of("p0") in ("b", "c"), timeout_s=10)
    new_leader = cluster.host(cluster.leader_of("p0") or "")
    assert new_leader.read("p0", list(acked), consistent=True) == list(acked.values())
    for i in range(30, 30 + writes_while_down):
        res = new_leader.write("p0", [put(f"r{i}", f"k{i}", f"v{i}")])
        assert isinstance(res[0], Applied)
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
