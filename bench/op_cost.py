"""CPU per operation, by process role, through the driver: where a PutItem and a GetItem spend.

Wall-clock throughput on a shared two-core machine moves from run to run; CPU per operation is
steadier, and split by role (the driver process, where the router runs; the storage nodes; the
rest of Ray) it says which side a change made dearer. YCSB-sized items (a 1 KB record of ten
50-byte fields), ``--ops`` operations per phase at ``--in-flight``, puts then strong gets, each
phase twice.

    python -m bench.op_cost [--ops 6000] [--in-flight 64] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.common import cpu_by_role, emit, local_ray, log
from bench.ycsb import create_usertable, record, service_config

BENCH = "op_cost"
TABLE = "opcost"


async def measure(name: str, op: Callable[[int], Awaitable[Any]], ops: int, in_flight: int) -> None:
    keys = iter(range(ops))

    async def worker() -> None:
        for key in keys:
            await op(key)

    before, started = cpu_by_role(os.getpid()), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed, after = time.perf_counter() - started, cpu_by_role(os.getpid())
    spent = {role: after.get(role, 0.0) - before.get(role, 0.0) for role in after}
    by_role = {r: round(s / ops * 1e6, 1) for r, s in spent.items() if s / ops * 1e6 >= 5}
    emit(
        BENCH,
        f"{name}.cpu_us_per_op",
        sum(spent.values()) / ops * 1e6,
        "us",
        ops_per_s=ops / elapsed,
        by_role=dict(sorted(by_role.items(), key=lambda kv: -kv[1])),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.op_cost", description=__doc__)
    parser.add_argument("--ops", type=int, default=6000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--quick", action="store_true")
    ns = parser.parse_args(argv)
    if ns.quick:
        ns.ops = 1500
    import raydynamo
    from raydynamo.actors.service import start_service, stop_service

    with tempfile.TemporaryDirectory(prefix="rd-opcost-") as data_dir, local_ray(task_events=False):
        config = service_config(data_dir, "bench-op-cost")
        handles = start_service(config, detached=False)  # held: dropped handles end the actors
        client = raydynamo.connect_async(config=config)
        rng = random.Random(5)
        items = [record(k, rng) for k in range(1000)]  # made before, so not counted per op

        async def scenario() -> None:
            await create_usertable(client, TABLE)

            async def put(k: int) -> Any:
                return await client.put_item(TableName=TABLE, Item=items[k % 1000])

            async def get(k: int) -> Any:
                return await client.get_item(
                    TableName=TABLE, Key={"pk": items[k % 1000]["pk"]}, ConsistentRead=True
                )

            log("warming up")
            await measure("warm_up_put", put, 1000, ns.in_flight)
            for _ in range(2):
                await measure("put_item", put, ns.ops, ns.in_flight)
                await measure("strong_get_item", get, ns.ops, ns.in_flight)
            await client.close()

        asyncio.run(scenario())
        stop_service(config)
        del handles


if __name__ == "__main__":
    main()
