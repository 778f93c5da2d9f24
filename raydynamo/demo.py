"""``make demo``: the main job on an embedded local Ray, no configuration needed.

It starts three storage nodes, places replicated partitions on them, streams writes, kills the
storage node that leads a partition in the middle of the stream (a real SIGKILL; Ray restarts the
process), and shows the group carrying on: a new leader, every acknowledged write still there,
the restarted node caught up byte for byte. Then it prints figures and shuts everything down.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time

from raydynamo.partition.commands import Put, Write, encode_write

PARTITIONS = ["demo.p0", "demo.p1", "demo.p2"]


def _put(tag: str, i: int) -> tuple[bytes, bytes, bytes, bytes]:
    key = f"{tag}-{i:05d}".encode()
    value = f"value of {tag} {i}".encode()
    rid = f"req/{tag}/{i}".encode()
    return rid, encode_write(Write(rid, (Put(key, value),))), key, value


async def _stream(client, tag: str, count: int, in_flight: int, acked: dict, latencies: list):
    async def one(i: int) -> None:
        rid, command, key, value = _put(tag, i)
        started = time.perf_counter()
        result = await client.write([(rid, command)])
        latencies.append(time.perf_counter() - started)
        assert result[0]["status"] == "ok"
        acked[key] = value

    for start in range(0, count, in_flight):
        await asyncio.gather(*(one(i) for i in range(start, min(count, start + in_flight))))


def main() -> int:
    import ray

    from raydynamo.actors.group_client import GroupClient
    from raydynamo.actors.storage_fleet import StorageFleet
    from raydynamo.config import load_config

    data_dir = tempfile.mkdtemp(prefix="raydynamo-demo-")
    base = load_config()
    config = base.model_copy(
        update={"storage": base.storage.model_copy(update={"data_dir": data_dir})}
    )
    print("starting an embedded Ray and three storage nodes ...", flush=True)
    ray.init(include_dashboard=False, log_to_driver=False, namespace=config.cluster.namespace)
    fleet = StorageFleet(config)
    try:
        fleet.start()
        groups = {pid: fleet.place_group(pid, offset=i) for i, pid in enumerate(PARTITIONS)}
        ns = config.cluster.namespace
        clients = {pid: GroupClient(pid, groups[pid], ns) for pid in PARTITIONS}
        victim_pid = PARTITIONS[0]
        victim = groups[victim_pid][0]
        for pid, members in groups.items():
            print(f"  {pid}: replicas on {members}, leader {members[0]}")

        acked: dict[str, dict[bytes, bytes]] = {pid: {} for pid in PARTITIONS}
        latencies: list[float] = []

        async def run() -> float:
            started = time.perf_counter()
            await asyncio.gather(
                *(_stream(clients[p], "warm", 200, 32, acked[p], latencies) for p in PARTITIONS)
            )
            victim_pid_os = await fleet.handles[victim].pid.remote()
            stream = asyncio.gather(
                *(_stream(clients[p], "load", 600, 32, acked[p], latencies) for p in PARTITIONS)
            )
            await asyncio.sleep(0.5)
            print(f"killing storage node {victim} (leader of {victim_pid}) mid-stream", flush=True)
            kill_at = time.perf_counter()
            os.kill(victim_pid_os, signal.SIGKILL)
            await stream
            print(f"  stream finished {time.perf_counter() - kill_at:.1f}s after the kill")
            return time.perf_counter() - started

        elapsed = asyncio.run(run())
        total = sum(len(a) for a in acked.values())
        latencies.sort()
        print(f"acknowledged writes: {total} in {elapsed:.1f}s ({total / elapsed:.0f}/s)")
        p50 = latencies[len(latencies) // 2] * 1000
        p99 = latencies[int(len(latencies) * 0.99)] * 1000
        print(f"write latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")

        async def verify() -> int:
            lost = 0
            for pid in PARTITIONS:
                keys = sorted(acked[pid])
                values = await clients[pid].read(keys, consistent=True)
                lost += sum(1 for k, v in zip(keys, values, strict=True) if acked[pid][k] != v)
            return lost

        lost = asyncio.run(verify())
        print(f"acknowledged writes lost: {lost}")
        status = ray.get(fleet.handles[groups[victim_pid][1]].status.remote())
        leader_now = next(s["leader"] for s in status if s["partition_id"] == victim_pid)
        print(f"{victim_pid} is now led by {leader_now} (was {victim})")
        deadline = time.monotonic() + 60
        while True:
            states = ray.get(
                [fleet.handles[m].partition_state.remote(victim_pid) for m in groups[victim_pid]]
            )
            if all(s == states[0] for s in states):
                break
            if time.monotonic() > deadline:
                print("the restarted node did not catch up in time")
                return 1
        print(f"restarted node {victim} caught up: all replicas hold identical bytes")
        return 0 if lost == 0 else 1
    finally:
        fleet.stop()
        ray.shutdown()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
