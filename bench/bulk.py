"""Bulk writes next to their ceilings, measured in the same run: BatchWriteItem and write_table.

Figures (each the median of ``--reps`` repetitions run round-robin with their ceilings, one
JSON line each, ``bench.common.emit``):

- ``batch_write_item.25``: BatchWriteItem of 25 YCSB records of about 1 KB (fresh keys, over the
  table's 4 partitions), 8 requests in flight from one asyncio driver (``AsyncClient``, its
  router embedded), in items/s;
- ``write_table.small`` and ``write_table.1kb``: ``raydynamo.data.write_table`` of a materialized
  dataset of ``--rows`` rows (small rows: a key, a number and a 60-character string, about 100
  bytes; 1 KB rows: YCSB records), in rows/s of wall time, Ray Data's scheduling included;
- the ceilings: the bare three-actor replicated put (``bench.ceilings``) with 25 and with 100
  items per request, 8 in flight, with 100-byte values (the standard ceiling, which the issue's
  targets name) and with 1,000-byte values (the same bytes per item as the 1 KB writes).

``ratio`` is against the 100-byte ceiling of the same batch size (BatchWriteItem against 25,
write_table against 100); ``ratio_same_bytes`` against the ceiling with values as large as the
items written. Every raydynamo write is replicated three times, fsync'ed by a majority,
checksummed and applied exactly once; the ceiling does none of that.

    python -m bench.bulk [--seconds S] [--rows N] [--reps R] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import random
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench.ceilings import BareReplicatedGroup, measure_bare_replicated_put
from bench.common import CpuMeter, emit, local_ray, log, repeat_interleaved
from bench.ycsb import TABLE, record

BENCH = "bulk"
IN_FLIGHT = 8
BATCH_ITEMS = 25


def _ceiling_jobs(group: BareReplicatedGroup, seconds: float) -> dict[str, Callable[[], Any]]:
    jobs: dict[str, Callable[[], Any]] = {}
    for items in (25, 100):
        for value_bytes in (100, 1000):
            jobs[f"bare.{items}.{value_bytes}B"] = lambda i=items, v=value_bytes: (
                measure_bare_replicated_put(i, IN_FLIGHT, seconds, group=group, value_bytes=v)
            )
    return jobs


class BulkScenario:
    """The service, a table and the measurements that write into it."""

    def __init__(self, config: Any, loop: asyncio.AbstractEventLoop) -> None:
        import raydynamo

        self.config = config
        self.loop = loop
        self.client = raydynamo.connect_async(config=config)
        self.keys = itertools.count()
        self.rng = random.Random(5)

    def create_table(self) -> None:
        async def create() -> None:
            await self.client.create_table(
                TableName=TABLE,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            await self.client.get_waiter("table_exists").wait(
                TableName=TABLE, WaiterConfig={"Delay": 0.2}
            )

        self.loop.run_until_complete(create())

    def batch_write_item(self, seconds: float) -> dict[str, float]:
        """BatchWriteItem of 25 fresh 1 KB records, ``IN_FLIGHT`` at a time."""

        async def drive() -> tuple[int, float]:
            written = 0
            deadline = time.perf_counter() + seconds

            async def worker() -> None:
                nonlocal written
                while time.perf_counter() < deadline:
                    batch = [
                        {"PutRequest": {"Item": record(next(self.keys), self.rng)}}
                        for _ in range(BATCH_ITEMS)
                    ]
                    answer = await self.client.batch_write_item(RequestItems={TABLE: batch})
                    assert not answer["UnprocessedItems"], "throttled in the benchmark"
                    written += BATCH_ITEMS

            began = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
            return written, time.perf_counter() - began

        meter = CpuMeter()
        meter.start()
        written, elapsed = self.loop.run_until_complete(drive())
        cpu_s, driver_s = meter.stop()
        return {
            "value": written / elapsed,
            "cpu_us_per_item": cpu_s / written * 1e6,
            "driver_cpu_us_per_item": driver_s / written * 1e6,
        }

    def dataset(self, rows: int, shape: str) -> Any:
        import pyarrow as pa
        import ray.data

        first = next(self.keys)
        for _ in range(rows):
            next(self.keys)
        columns: dict[str, Any] = {"pk": [f"user{first + i:010d}" for i in range(rows)]}
        if shape == "small":
            columns["n"] = list(range(rows))
            columns["s"] = ["s" * 60] * rows
        else:
            for field in range(10):
                columns[f"field{field}"] = [self.rng.randbytes(50).hex() for _ in range(rows)]
        table = pa.table(columns)
        blocks = 8
        size = -(-rows // blocks)
        return ray.data.from_arrow(
            [table.slice(i, size) for i in range(0, rows, size)]
        ).materialize()

    def write_table(self, rows: int, shape: str) -> dict[str, float]:
        from raydynamo.data import write_table

        dataset = self.dataset(rows, shape)
        meter = CpuMeter()
        meter.start()
        began = time.perf_counter()
        written = write_table(dataset, TABLE, config=self.config)
        elapsed = time.perf_counter() - began
        cpu_s, _ = meter.stop()
        assert written["items"] == rows, written
        return {"value": rows / elapsed, "cpu_us_per_item": cpu_s / rows * 1e6}

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())


def run(seconds: float, rows: int, repetitions: int) -> list[dict[str, Any]]:
    import ray.data

    from raydynamo.actors.service import start_service, stop_service
    from raydynamo.config import config_from_dict

    lines: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="raydynamo-bulk-") as data_dir,
        local_ray(task_events=False),
    ):
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        config = config_from_dict(
            {
                "storage": {"data_dir": data_dir},
                "cluster": {"namespace": "bench-bulk"},
                # A pre-warmed on-demand table (DynamoDB's WarmThroughput): this measures how
                # fast bulk writes go, not how fast a new table's capacity grows.
                "admission": {"on_demand_write_units_initial": 1_000_000},
            }
        )
        handles = start_service(config, detached=False)
        loop = asyncio.new_event_loop()
        scenario = BulkScenario(config, loop)
        scenario.create_table()
        group = BareReplicatedGroup()
        jobs: dict[str, Callable[[], Any]] = {
            "batch_write_item.25": lambda: scenario.batch_write_item(seconds),
            "write_table.small": lambda: scenario.write_table(rows, "small"),
            "write_table.1kb": lambda: scenario.write_table(rows // 4, "1kb"),
            **_ceiling_jobs(group, seconds),
        }
        log(f"{BENCH}: warming up, then {len(jobs)} figures x {repetitions} repetitions")
        scenario.batch_write_item(min(1.0, seconds))
        summaries = repeat_interleaved(jobs, repetitions)
        scenario.close()
        group.stop()
        stop_service(config)
        del handles
    for figure, ceiling_items, same_bytes in (
        ("batch_write_item.25", 25, 1000),
        ("write_table.small", 100, 100),
        ("write_table.1kb", 100, 1000),
    ):
        ours = summaries[figure]
        ceiling = summaries[f"bare.{ceiling_items}.100B"]
        same = summaries[f"bare.{ceiling_items}.{same_bytes}B"]
        lines.append(
            emit(
                BENCH,
                figure,
                ours["value"],
                "items/s",
                ceiling=ceiling["value"],
                ceiling_name=f"bare replicated put, {ceiling_items} items of 100 B, 8 in flight",
                ratio_same_bytes=ours["value"] / same["value"],
                ceiling_same_bytes=same["value"],
                cpu_us_per_item=ours["cpu_us_per_item"],
                ceiling_cpu_us_per_item=ceiling["cpu_us_per_item"],
                values=ours["values"],
                ceiling_values=ceiling["values"],
            )
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bulk", description=__doc__)
    parser.add_argument("--seconds", type=float, default=4.0, help="per BatchWriteItem run")
    parser.add_argument("--rows", type=int, default=200_000, help="small rows per write_table")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    ns = parser.parse_args(argv)
    if ns.quick:
        ns.seconds, ns.rows, ns.reps = 1.0, 20_000, 1
    run(ns.seconds, ns.rows, ns.reps)


if __name__ == "__main__":
    main()
