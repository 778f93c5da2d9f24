"""Failover: how long writes stall when the leader's storage node is SIGKILLed.

A stream of one-item writes runs against one partition; the leader's storage node process is
killed; the figure is the time from the kill to the first write acknowledged by the new leader,
in seconds and in multiples of the lease duration (followers refuse other candidates for one
lease after they last heard the leader, then an election follows). Repeated ``--reps`` times.

    python -m bench.failover [--reps N] [--lease S]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import tempfile
import time

import ray

from bench.common import emit, local_ray
from raydynamo.actors.group_client import GroupClient
from raydynamo.actors.storage_fleet import StorageFleet
from raydynamo.config import config_from_dict
from raydynamo.partition.commands import Put, Write, encode_write

BENCH = "failover"


async def one_failover(fleet: StorageFleet, pid: str, members: list[str], ns: str) -> float:
    client = GroupClient(pid, members, ns, retry_pause_s=0.01)
    counter = 0

    async def write() -> None:
        nonlocal counter
        counter += 1
        rid = f"{time.monotonic_ns()}-{counter}".encode()
        await client.write([(rid, encode_write(Write(rid, (Put(rid, b"v"),))))])

    for _ in range(20):
        await write()
    leader = client.leader or members[0]
    pid_os = await fleet.handles[leader].pid.remote()
    killed_at = time.monotonic()
    os.kill(pid_os, signal.SIGKILL)
    client.leader = None
    await write()
    return time.monotonic() - killed_at


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--lease", type=float, default=1.0)
    ns = parser.parse_args(argv)
    lease = ns.lease
    gaps = []
    with local_ray(task_events=False), tempfile.TemporaryDirectory() as data_dir:
        config = config_from_dict(
            {
                "storage": {"data_dir": data_dir},
                "cluster": {"namespace": "bench-failover"},
                "consensus": {
                    "lease_duration_s": lease,
                    "election_timeout_s": lease * 1.5,
                    "election_jitter_s": lease * 0.5,
                    "heartbeat_interval_s": lease / 10,
                },
            }
        )
        fleet = StorageFleet(config)
        fleet.start()
        for rep in range(ns.reps):
            pid = f"failover.p{rep}"
            members = fleet.place_group(pid, rep)
            ray.get(fleet.handles[members[0]].read.remote(pid, [b"x"], True))
            gaps.append(asyncio.run(one_failover(fleet, pid, members, "bench-failover")))
        fleet.stop()
    median = statistics.median(gaps)
    emit(
        BENCH,
        "write_stall_after_leader_kill",
        median,
        "s",
        lease_multiples=median / lease,
        lease_s=lease,
        values=gaps,
    )


if __name__ == "__main__":
    main()
