"""Storage node logic on real RocksDB, three nodes in one process (no Ray)."""

from __future__ import annotations

import asyncio

import pytest

from raydynamo.partition.commands import Put, Write, encode_write
from tests.node_harness import LocalCluster

NODES = ("a", "b", "c")


def put(request_id: str, key: str, value: str) -> tuple[bytes, bytes]:
    rid = request_id.encode()
    return rid, encode_write(Write(rid, (Put(key.encode(), value.encode()),)))


async def _elect(cluster: LocalCluster, pid: str, node_id: str) -> None:
    cluster.host(node_id).campaign(pid)
    await cluster.wait_until(lambda: cluster.leader_of(pid) == node_id)


def test_writes_replicate_and_reads_see_them(data_dir: str) -> None:
    async def scenario() -> None:
        cluster = LocalCluster(data_dir, NODES)
        await cluster.start_all()
        for node_id in NODES:
            cluster.host(node_id).host_partition("p0", NODES)
        await _elect(cluster, "p0", "a")
        leader = cluster.host("a")
        results = await asyncio.gather(
            *(leader.write("p0", [put(f"r{i}", f"k{i}", f"v{i}")]) for i in range(50))
        )
        assert all(r[0]["status"] == "ok" for r in results)
        got = await leader.read("p0", [b"k7", b"missing"], consistent=True)
        assert got == {"status": "ok", "values": [b"v7", None]}
        await cluster.wait_until(
            lambda: all(
                cluster.host(n).replicas["p0"].replica.log.applied_through
                >= leader.replicas["p0"].replica.log.applied_through
                for n in NODES
            )
        )
        states = {n: cluster.host(n).partition_state("p0") for n in NODES}
        assert states["a"] == states["b"] == states["c"]
        follower = await cluster.host("b").write("p0", [put("x", "k", "v")])
        assert follower == [{"status": "not_leader", "leader": "a"}]
        await cluster.close()

    asyncio.run(scenario())


def test_replayed_request_id_is_answered_not_reapplied(data_dir: str) -> None:
    async def scenario() -> None:
        cluster = LocalCluster(data_dir, NODES)
        await cluster.start_all()
        for node_id in NODES:
            cluster.host(node_id).host_partition("p0", NODES)
        await _elect(cluster, "p0", "a")
        leader = cluster.host("a")
        first = await leader.write("p0", [put("same", "k", "first")])
        again = await leader.write("p0", [put("same", "k", "second")])
        assert first[0]["result"] == again[0]["result"] == {"ok": True, "slot": first[0]["slot"]}
        assert again[0]["slot"] > first[0]["slot"]
        assert (await leader.read("p0", [b"k"], consistent=True))["values"] == [b"first"]
        await cluster.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("writes_while_down", [30, 150])
def test_leader_crash_loses_no_acknowledged_write_and_restart_catches_up(
    data_dir: str, writes_while_down: int
) -> None:
    """With 150 writes while down, the survivors compact past the crashed node's log and it
    must come back through a snapshot."""

    async def scenario() -> None:
        cluster = LocalCluster(data_dir, NODES)
        await cluster.start_all()
        for node_id in NODES:
            cluster.host(node_id).host_partition("p0", NODES)
        await _elect(cluster, "p0", "a")
        acked = {}
        for i in range(30):
            res = await cluster.host("a").write("p0", [put(f"r{i}", f"k{i}", f"v{i}")])
            assert res[0]["status"] == "ok"
            acked[f"k{i}".encode()] = f"v{i}".encode()
        crashed_at = cluster.host("a").replicas["p0"].replica.log.applied_through
        await cluster.crash("a")
        await cluster.wait_until(lambda: cluster.leader_of("p0") in ("b", "c"), timeout_s=10)
        new_leader = cluster.host(cluster.leader_of("p0") or "")
        got = await new_leader.read("p0", list(acked), consistent=True)
        assert got["values"] == list(acked.values())
        for i in range(30, 30 + writes_while_down):
            res = await new_leader.write("p0", [put(f"r{i}", f"k{i}", f"v{i}")])
            assert res[0]["status"] == "ok"
        if writes_while_down == 150:  # the survivors dropped slots "a" still needs
            assert new_leader.replicas["p0"].replica.log.compacted_through > crashed_at
        await cluster.start("a")
        target = new_leader.replicas["p0"].replica.log.applied_through
        await cluster.wait_until(
            lambda: cluster.host("a").replicas["p0"].replica.log.applied_through >= target
        )
        assert cluster.host("a").partition_state("p0") == new_leader.partition_state("p0")
        await cluster.close()

    asyncio.run(scenario())
