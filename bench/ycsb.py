"""YCSB-style workloads through the driver, next to the ceilings measured in the same run.

Workloads on a table of ``--records`` items of about 1 KB (one partition key each):
  A: 50% reads / 50% updates, B: 95% / 5%, C: reads only; keys uniform or zipfian (theta 0.99).
Reads are strongly consistent GetItems, updates PutItems of a whole 1 KB item; ``--in-flight``
requests are kept outstanding from one asyncio driver (the AsyncClient, its router embedded).
Then one-item puts and strong gets alone (the figures the cluster issue holds to ceilings), and
batch requests (BatchWriteItem of 25, BatchGetItem of 100).

Ceilings, measured in the same run: a bare async actor call with as many in flight, and the bare
three-actor replicated put (one item per request with as many in flight; 25 per request).

    python -m bench.ycsb [--seconds S] [--records N] [--in-flight K] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.ceilings import (
    BareReplicatedGroup,
    measure_actor_call,
    measure_bare_replicated_put,
    start_noop_actor,
)
from bench.common import emit, local_ray, log, percentile

BENCH = "ycsb"
TABLE = "usertable"
VALUE_BYTES = 1000


class Zipfian:
    """Zipfian ranks over ``n`` keys (theta 0.99, as YCSB), scattered so hot keys spread."""

    def __init__(self, n: int, rng: random.Random, theta: float = 0.99) -> None:
        weights = [1.0 / (rank**theta) for rank in range(1, n + 1)]
        total = sum(weights)
        self.cumulative = list(itertools.accumulate(w / total for w in weights))
        self.scatter = list(range(n))
        rng.shuffle(self.scatter)
        self.rng = rng

    def next(self) -> int:
        rank = bisect.bisect_left(self.cumulative, self.rng.random())
        return self.scatter[min(rank, len(self.scatter) - 1)]


def record(key: int, rng: random.Random) -> dict[str, Any]:
    fields = {f"field{i}": {"S": rng.randbytes(50).hex()} for i in range(VALUE_BYTES // 100)}
    return {"pk": {"S": f"user{key:010d}"}, **fields}


def service_config(data_dir: str, namespace: str, *, admission: bool = True) -> Any:
    """The embedded service the driver benchmarks run: pre-warmed on-demand tables (DynamoDB's
    WarmThroughput), so raw speed is measured, not a new table's initial rate."""
    from raydynamo.config import config_from_dict

    return config_from_dict(
        {
            "storage": {"data_dir": data_dir},
            "cluster": {"namespace": namespace},
            "admission": {
                "enabled": admission,
                "on_demand_write_units_initial": 1_000_000,
                "on_demand_read_units_initial": 1_000_000,
            },
        }
    )


async def create_usertable(client: Any, name: str = TABLE) -> None:
    """YCSB's table (one string partition key, on-demand), waited on until ACTIVE."""
    await client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    await client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})


async def load(client: Any, records: int) -> None:
    rng = random.Random(1)
    batches = []
    for start in range(0, records, 25):
        items = [
            {"PutRequest": {"Item": record(k, rng)}} for k in range(start, min(records, start + 25))
        ]
        batches.append({TABLE: items})
    for start in range(0, len(batches), 16):
        await asyncio.gather(
            *(client.batch_write_item(RequestItems=b) for b in batches[start : start + 16])
        )


async def drive(
    op: Callable[[random.Random], Awaitable[str]], in_flight: int, seconds: float
) -> dict[str, Any]:
    """Keep ``in_flight`` operations outstanding; latencies per operation kind."""
    latencies: dict[str, list[float]] = {}
    deadline = time.perf_counter() + seconds
    count = 0

    async def worker(seed: int) -> None:
        nonlocal count
        rng = random.Random(seed)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            kind = await op(rng)
            latencies.setdefault(kind, []).append(time.perf_counter() - started)
            count += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker(s) for s in range(in_flight)))
    elapsed = time.perf_counter() - began
    out: dict[str, Any] = {"ops_per_s": count / elapsed}
    for kind, values in latencies.items():
        values.sort()
        out[f"{kind}_p50_ms"] = percentile(values, 0.5) * 1000
        out[f"{kind}_p99_ms"] = percentile(values, 0.99) * 1000
    return out


def workload(client: Any, read_share: float, keys: Callable[[random.Random], int]):  # type: ignore[no-untyped-def]
    async def op(rng: random.Random) -> str:
        key = {"pk": {"S": f"user{keys(rng):010d}"}}
        if rng.random() < read_share:
            await client.get_item(TableName=TABLE, Key=key, ConsistentRead=True)
            return "read"
        await client.put_item(TableName=TABLE, Item=record(int(key["pk"]["S"][4:]), rng))
        return "update"

    return op


async def run_workloads(client: Any, records: int, in_flight: int, seconds: float) -> None:
    zipf = Zipfian(records, random.Random(7))
    distributions: dict[str, Callable[[random.Random], int]] = {
        "uniform": lambda rng: rng.randrange(records),
        "zipfian": lambda rng: zipf.next(),
    }
    for name, share in (("A", 0.5), ("B", 0.95), ("C", 1.0)):
        for dist, keys in distributions.items():
            result = await drive(workload(client, share, keys), in_flight, seconds)
            emit(BENCH, f"workload_{name}.{dist}", result.pop("ops_per_s"), "ops/s", **result)


async def run_single(client: Any, records: int, in_flight: int, seconds: float) -> dict[str, float]:
    puts = await drive(
        workload(client, 0.0, lambda rng: rng.randrange(records)), in_flight, seconds
    )
    gets = await drive(
        workload(client, 1.0, lambda rng: rng.randrange(records)), in_flight, seconds
    )
    return {
        "put": puts["ops_per_s"],
        "put_p50": puts["update_p50_ms"],
        "get": gets["ops_per_s"],
        "get_p50": gets["read_p50_ms"],
    }


async def run_batches(client: Any, records: int, seconds: float) -> dict[str, float]:
    async def write(rng: random.Random) -> str:
        items = [{"PutRequest": {"Item": record(rng.randrange(records), rng)}} for _ in range(25)]
        keys = {i["PutRequest"]["Item"]["pk"]["S"] for i in items}
        items = [i for i in items if i["PutRequest"]["Item"]["pk"]["S"] in keys]
        unique = {i["PutRequest"]["Item"]["pk"]["S"]: i for i in items}
        await client.batch_write_item(RequestItems={TABLE: list(unique.values())})
        return "batch_write"

    async def read(rng: random.Random) -> str:
        keys = {f"user{rng.randrange(records):010d}" for _ in range(100)}
        request = {TABLE: {"Keys": [{"pk": {"S": k}} for k in keys], "ConsistentRead": True}}
        await client.batch_get_item(RequestItems=request)
        return "batch_get"

    writes = await drive(write, 8, seconds)
    reads = await drive(read, 8, seconds)
    return {"write_items": writes["ops_per_s"] * 25, "read_items": reads["ops_per_s"] * 100}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ycsb", description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--no-admission",
        action="store_true",
        help="turn admission control off (to measure what admitting costs)",
    )
    ns = parser.parse_args(argv)
    if ns.quick:
        ns.seconds, ns.records = 1.0, 1000
    run(ns.seconds, ns.records, ns.in_flight, admission=not ns.no_admission)


def run(seconds: float, records: int, in_flight: int, *, admission: bool = True) -> None:
    import raydynamo
    from raydynamo.actors.service import start_service, stop_service

    with (
        tempfile.TemporaryDirectory(prefix="raydynamo-ycsb-") as data_dir,
        local_ray(task_events=False),
    ):
        config = service_config(data_dir, "bench-ycsb", admission=admission)
        handles = start_service(config, detached=False)
        client = raydynamo.connect_async(config=config)

        async def scenario() -> None:
            await create_usertable(client)
            log(f"loading {records} records of ~1 KB")
            await load(client, records)
            await run_workloads(client, records, in_flight, seconds)
            single = await run_single(client, records, in_flight, seconds)
            batches = await run_batches(client, records, seconds)
            await client.close()
            ceilings(single, batches, in_flight, seconds)

        asyncio.run(scenario())
        stop_service(config)
        del handles


def ceilings(
    single: dict[str, float], batches: dict[str, float], in_flight: int, seconds: float
) -> None:
    bare = BareReplicatedGroup()
    put_ceiling = measure_bare_replicated_put(1, in_flight, seconds, group=bare)
    batch_ceiling = measure_bare_replicated_put(25, 8, seconds, group=bare)
    bare.stop()
    noop = start_noop_actor("async", False)
    call_ceiling = measure_actor_call("async", in_flight, seconds, actor=noop)
    emit(
        BENCH,
        f"put.in_flight_{in_flight}",
        single["put"],
        "ops/s",
        ceiling=put_ceiling["value"],
        p50_ms=single["put_p50"],
        ceiling_name="bare replicated put, 1 item",
    )
    emit(
        BENCH,
        f"strong_get.in_flight_{in_flight}",
        single["get"],
        "ops/s",
        ceiling=call_ceiling["value"],
        p50_ms=single["get_p50"],
        ceiling_name="bare async actor call",
    )
    emit(
        BENCH,
        "batch_write_item.25",
        batches["write_items"],
        "items/s",
        ceiling=batch_ceiling["value"],
        ceiling_name="bare replicated put, 25 items",
    )
    emit(BENCH, "batch_get_item.100", batches["read_items"], "items/s")


if __name__ == "__main__":
    main()
