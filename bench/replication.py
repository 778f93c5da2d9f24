"""Replicated put through a storage node leader, side by side with its ceilings.

Figures (each a median over interleaved repetitions, printed as JSON lines with its ceiling
measured in the same run and the ratio to it):
- one item per request with 1 and with 64 requests in flight, against the bare three-actor
  replicated put with the same shape;
- batches of 25 and 100 items per request (one request id per batch, as a BatchWriteItem is one
  request), against the bare replicated put at the same batch size;
- the bare actor call and raw rocksdict synced batches for reference.
Every put is fsync'ed by a majority before it is acknowledged (``storage.sync_writes``),
checksummed,
ordered by Multi-Paxos, and applied exactly once; the bare ceiling does none of that.

    python -m bench.replication [--seconds S] [--reps N] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
from collections.abc import Callable
from typing import Any

import ray

from bench.ceilings import (
    BareReplicatedGroup,
    measure_actor_call,
    measure_bare_replicated_put,
    measure_rocksdict_batches,
    start_noop_actor,
)
from bench.common import drive_refs, emit, local_ray, log, percentile, repeat_interleaved
from raydynamo.actors.group_client import GroupClient
from raydynamo.actors.storage_fleet import StorageFleet
from raydynamo.config import config_from_dict
from raydynamo.partition.commands import Put, Write, encode_write

BENCH = "replication"
SYNC = True
PEER_CALLS = 1
SHAPES = [(1, 1), (1, 64), (25, 8), (100, 8)]


class ReplicatedPartition:
    """Three storage nodes with one partition; ``submitter`` writes through the leader."""

    def __init__(self, data_dir: str) -> None:
        config = config_from_dict(
            {
                "storage": {"data_dir": data_dir, "sync_writes": SYNC},
                "node": {"peer_calls_in_flight_max": PEER_CALLS},
                "cluster": {"namespace": "bench-replication"},
            }
        )
        self.namespace = config.cluster.namespace
        self.fleet = StorageFleet(config)
        self.fleet.start()
        self.members = self.fleet.place_group("bench.p0", 0)
        self.leader = self.fleet.handles[self.members[0]]
        self.counter = itertools.count()
        # Wait until the leader serves (its lease is up) before measuring.
        ray.get(self.leader.read.remote("bench.p0", [b"warm"], True))

    def submitter(self, items: int, value_bytes: int = 100) -> Callable[[], ray.ObjectRef]:
        padding = b"v" * (value_bytes - 16)
        write = self.leader.write.remote

        def submit() -> ray.ObjectRef:
            n = next(self.counter)
            rid = b"%016d" % n
            ops = tuple(Put(b"%08d%08d" % (n, i), b"%016d" % i + padding) for i in range(items))
            return write("bench.p0", [(rid, encode_write(Write(rid, ops)))])

        return submit

    def stop(self) -> None:
        self.fleet.stop()


def measure_partition_put(
    part: ReplicatedPartition, items: int, in_flight: int, seconds: float
) -> dict[str, float]:
    run = drive_refs(part.submitter(items), in_flight, seconds, items, min(0.5, seconds / 3))
    fields = run.fields()
    return {"value": fields["ops_per_s"] if items == 1 else fields["items_per_s"], **fields}


def measure_coalesced_put(part: ReplicatedPartition, in_flight: int, seconds: float) -> dict:
    """One-item requests, ``in_flight`` at a time, through the partition client the router uses
    (``GroupClient``): concurrent requests to the leader leave together in shared calls."""
    client = GroupClient("bench.p0", part.members, part.namespace)
    latencies: list[float] = []
    counter = itertools.count(10**12)

    async def worker(stop_at: float) -> None:
        while time.perf_counter() < stop_at:
            n = next(counter)
            rid = b"%016d" % n
            command = encode_write(Write(rid, (Put(rid, b"v" * 100),)))
            started = time.perf_counter()
            await client.write_one(rid, command)
            latencies.append(time.perf_counter() - started)

    async def drive() -> float:
        await asyncio.gather(*(worker(time.perf_counter() + 0.3) for _ in range(in_flight)))
        latencies.clear()
        began = time.perf_counter()
        await asyncio.gather(*(worker(began + seconds) for _ in range(in_flight)))
        return time.perf_counter() - began

    elapsed = asyncio.run(drive())
    latencies.sort()
    return {
        "value": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "cpu_us_per_op": float("nan"),
    }


def run(seconds: float, repetitions: int) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="raydynamo-bench-") as data_dir:
        with local_ray(task_events=False):
            part = ReplicatedPartition(data_dir)
            bare = BareReplicatedGroup()
            noop = start_noop_actor("async", False)
            jobs: dict[str, Callable[[], dict[str, float]]] = {
                "actor_call.async.in_flight_64": lambda: measure_actor_call(
                    "async", 64, seconds, actor=noop
                ),
            }
            for items, in_flight in SHAPES:
                shape = f"items_{items}.in_flight_{in_flight}"
                jobs[f"raydynamo.{shape}"] = lambda i=items, n=in_flight: measure_partition_put(
                    part, i, n, seconds
                )
                jobs[f"bare.{shape}"] = lambda i=items, n=in_flight: measure_bare_replicated_put(
                    i, n, seconds, group=bare
                )
            jobs["raydynamo_coalesced.items_1.in_flight_64"] = lambda: measure_coalesced_put(
                part, 64, seconds
            )
            log(f"measuring {len(jobs)} figures x {repetitions} repetitions")
            summaries = repeat_interleaved(jobs, repetitions)
            for items, in_flight in SHAPES:
                shape = f"items_{items}.in_flight_{in_flight}"
                ours, ceiling = summaries[f"raydynamo.{shape}"], summaries[f"bare.{shape}"]
                lines.append(
                    emit(
                        BENCH,
                        f"replicated_put.{shape}",
                        ours["value"],
                        "ops/s" if items == 1 else "items/s",
                        ceiling=ceiling["value"],
                        p50_ms=ours["p50_ms"],
                        p99_ms=ours["p99_ms"],
                        ceiling_p50_ms=ceiling["p50_ms"],
                        ceiling_p99_ms=ceiling["p99_ms"],
                        cpu_us_per_op=ours["cpu_us_per_op"],
                        ceiling_cpu_us_per_op=ceiling["cpu_us_per_op"],
                        values=ours["values"],
                        ceiling_values=ceiling["values"],
                    )
                )
            ours = summaries["raydynamo_coalesced.items_1.in_flight_64"]
            ceiling = summaries["bare.items_1.in_flight_64"]
            lines.append(
                emit(
                    BENCH,
                    "replicated_put_via_partition_client.items_1.in_flight_64",
                    ours["value"],
                    "ops/s",
                    ceiling=ceiling["value"],
                    p50_ms=ours["p50_ms"],
                    p99_ms=ours["p99_ms"],
                    values=ours["values"],
                    note="one-item requests coalesced by the client into shared leader calls",
                )
            )
            call = summaries["actor_call.async.in_flight_64"]
            lines.append(emit(BENCH, "actor_call.async.in_flight_64", call["value"], "calls/s"))
            part.stop()
            bare.stop()
        synced = measure_rocksdict_batches(100, seconds, True, 100, data_dir)
        lines.append(emit(BENCH, "rocksdb.synced_batch_100", synced["value"], "items/s"))
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replication", description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="0.5 s runs, 1 repetition")
    ns = parser.parse_args(argv)
    if ns.quick:
        ns.seconds, ns.reps = 0.5, 1
    run(ns.seconds, ns.reps)


if __name__ == "__main__":
    main()
