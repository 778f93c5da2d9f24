"""Replicated partitions on real Ray: three storage node actors hosting several partitions."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time

import pytest
import ray

from raydynamo.actors.group_client import GroupClient
from raydynamo.actors.storage_fleet import StorageFleet
from raydynamo.config import config_from_dict
from raydynamo.node.replies import Applied
from raydynamo.partition.commands import Put, Write, encode_write

pytestmark = pytest.mark.ray

PARTITIONS = [f"t0.p{i}" for i in range(4)]


def fast_config(data_dir: str, namespace: str) -> dict:
    return {
        "cluster": {"namespace": namespace, "storage_nodes": 3},
        "consensus": {
            "heartbeat_interval_s": 0.05,
            "lease_duration_s": 0.5,
            "election_timeout_s": 0.75,
            "election_jitter_s": 0.25,
            "retransmit_interval_s": 0.1,
            "log_retained_slots": 64,
        },
        "storage": {"data_dir": data_dir},
    }


def put(request_id: str, key: bytes, value: bytes) -> tuple[bytes, bytes]:
    rid = request_id.encode()
    return rid, encode_write(Write(rid, (Put(key, value),)))


@pytest.fixture
def fleet(ray_session: object, data_dir: str):
    namespace = f"test-{os.getpid()}-{time.monotonic_ns()}"
    config = config_from_dict(fast_config(data_dir, namespace))
    fleet = StorageFleet(config)
    fleet.start()
    groups = {pid: fleet.place_group(pid, offset=i) for i, pid in enumerate(PARTITIONS)}
    yield fleet, groups, namespace
    fleet.stop()


def test_leader_node_killed_mid_stream_loses_nothing_and_restarted_node_agrees(fleet) -> None:
    fleet, groups, namespace = fleet
    victim_pid = PARTITIONS[0]
    clients = {pid: GroupClient(pid, groups[pid], namespace) for pid in PARTITIONS}

    async def stream(pid: str, count: int, tag: str) -> dict[bytes, bytes]:
        acked: dict[bytes, bytes] = {}

        async def one(i: int) -> None:
            key, value = f"{tag}-{i}".encode(), f"value-{tag}-{i}".encode()
            result = await clients[pid].write([put(f"{pid}/{tag}/{i}", key, value)])
            assert isinstance(result[0], Applied)
            acked[key] = value

        for start in range(0, count, 16):
            await asyncio.gather(*(one(i) for i in range(start, min(count, start + 16))))
        return acked

    async def scenario() -> dict[str, dict[bytes, bytes]]:
        leader = groups[victim_pid][0]
        victim = fleet.handles[leader]
        victim_os_pid = await victim.pid.remote()
        before = await asyncio.gather(*(stream(pid, 48, "before") for pid in PARTITIONS))
        during = asyncio.gather(*(stream(pid, 96, "during") for pid in PARTITIONS))
        await asyncio.sleep(0)  # let the stream start before the kill
        os.kill(victim_os_pid, signal.SIGKILL)  # a crash, not a shutdown: Ray restarts it
        during_acked = await during
        acked = {}
        for pid, b, d in zip(PARTITIONS, before, during_acked, strict=True):
            acked[pid] = {**b, **d}
        return acked

    acked = asyncio.run(scenario())

    async def verify() -> None:
        for pid in PARTITIONS:
            keys = sorted(acked[pid])
            values = await clients[pid].read(keys, consistent=True)
            assert values == [acked[pid][k] for k in keys], f"lost acknowledged writes in {pid}"

    asyncio.run(verify())
    assert clients[victim_pid].retries > 0, "the kill did not disturb the stream"

    # Every replica of every group converges on the same bytes, the restarted one included. The
    # restarted node may still be coming back (Ray answers ActorUnavailableError meanwhile):
    # wait for it, never read from it before it answers.
    deadline = time.monotonic() + 120
    for pid in PARTITIONS:
        members = groups[pid]
        while True:
            try:
                states = ray.get(
                    [fleet.handles[m].partition_state.remote(pid) for m in members], timeout=30
                )
            except (ray.exceptions.ActorUnavailableError, ray.exceptions.GetTimeoutError):
                states = None
            if states is not None and all(s == states[0] for s in states):
                break
            assert time.monotonic() < deadline, f"{pid} replicas did not converge"
            with contextlib.suppress(ray.exceptions.ActorUnavailableError):
                # a round trip to every member (the restarted one once it is back)
                ray.get([fleet.handles[m].ping.remote() for m in members], timeout=60)


def test_a_member_added_after_compaction_catches_up_through_a_chunked_snapshot(
    ray_session: object, data_dir: str
) -> None:
    """Snapshot chunks between storage node actors (``snapshot_chunk``), read off the core
    thread: a member added once the group's log is compacted gets the partition's state in many
    chunks and ends up holding the same bytes."""
    namespace = f"test-snap-{os.getpid()}-{time.monotonic_ns()}"
    data = fast_config(data_dir, namespace)
    data["cluster"]["storage_nodes"] = 4
    data["consensus"]["log_retained_slots"] = 4
    data["node"] = {"snapshot_chunk_bytes": 4096}
    fleet = StorageFleet(config_from_dict(data))
    fleet.start()
    try:
        pid = "t9.p0"
        members = fleet.place_group(pid, offset=0)
        client = GroupClient(pid, members, namespace)

        async def fill() -> None:
            for i in range(80):
                reply = await client.write([put(f"{pid}/{i}", f"k{i}".encode(), b"v" * 400)])
                assert isinstance(reply[0], Applied)

        asyncio.run(fill())
        grown = sorted({*members, "sn3"})
        newcomer = fleet.handles["sn3"]
        ray.get(newcomer.host_partition.remote(pid, grown, True))
        leader = fleet.handles[members[0]]
        deadline = time.monotonic() + 120
        while not ray.get(leader.change_members.remote(pid, grown)):
            assert time.monotonic() < deadline, "the leader never took the change"
            ray.get(leader.ping.remote())
        while True:
            states = ray.get([fleet.handles[m].partition_state.remote(pid) for m in grown])
            if all(s == states[0] for s in states):
                break
            assert time.monotonic() < deadline, "the new member did not catch up"
            ray.get(newcomer.ping.remote())
        assert ray.get(newcomer.stats.remote())["snapshots_installed"] >= 1
        sent = ray.get(leader.stats.remote())
        assert sent["snapshot_transfers_completed"] >= 1 and sent["snapshot_chunks_sent"] > 5
    finally:
        fleet.stop()
