"""The cold-router experiment: metadata load while every router restarts under load.

For each cache mode, a service with ``--routers`` router actors and ``--tables`` tables serves a
steady stream of GetItems through the routers; the metadata shards' request counters are sampled
every ``--window`` seconds. After a warm-up, every router is killed and restarted by Ray with an
empty cache, under the same load. Printed per mode: the steady metadata request rate before the
restart, the peak rate after it, and their ratio.
- ``constant``: each router fetches every table it knows once per refresh period, hit or miss;
  a cold router sends exactly what a warm one does (the paper's constant-work MemDS refresh).
- ``on_miss``: the plain cache: one fetch per table missed, entries live ``cache_ttl_s``.

    python -m bench.cold_router [--routers 4] [--tables 40] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import tempfile
import time
from typing import Any

import ray

from bench.common import emit, local_ray, log

BENCH = "cold_router"


def service_config(data_dir: str, mode: str, routers: int) -> Any:
    from raydynamo.config import config_from_dict

    return config_from_dict(
        {
            "storage": {"data_dir": data_dir},
            "cluster": {
                "namespace": f"bench-cold-{mode}",
                "routers": routers,
                "metadata_shards": 2,
                "partitions_per_table": 1,
            },
            "router": {"cache_mode": mode, "refresh_interval_s": 0.25, "cache_ttl_s": 30.0},
        }
    )


async def shard_requests(config: Any) -> int:
    from raydynamo.actors.metadata_shard import metadata_shard_name

    total = 0
    for index in range(config.cluster.metadata_shards):
        shard = ray.get_actor(metadata_shard_name(index), namespace=config.cluster.namespace)
        total += (await shard.stats.remote())["requests"]
    return total


class Load:
    """``in_flight`` GetItems at a time through random routers on random tables."""

    def __init__(self, routers: list[Any], tables: list[str], in_flight: int) -> None:
        self.routers = routers
        self.tables = tables
        self.in_flight = in_flight
        self.stop = False
        self.done = 0
        self.failed = 0

    async def worker(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop:
            router = rng.choice(self.routers)
            request = {"TableName": rng.choice(self.tables), "Key": {"pk": {"S": "k"}}}
            try:
                answer = await router.call.remote("GetItem", request)
                self.done += "ok" in answer
                self.failed += "error" in answer
            except Exception:  # the router is restarting
                self.failed += 1
                await asyncio.sleep(0.05)

    async def run(self) -> None:
        await asyncio.gather(*(self.worker(s) for s in range(self.in_flight)))


async def sample(config: Any, seconds: float, window: float) -> list[float]:
    """Metadata requests per second, one figure per window."""
    rates = []
    last = await shard_requests(config)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(window)
        now = await shard_requests(config)
        rates.append((now - last) / window)
        last = now
    return rates


async def experiment(config: Any, routers: list[Any], tables: list[str], ns: Any) -> dict[str, Any]:
    load = Load(routers, tables, ns.in_flight)
    runner = asyncio.get_running_loop().create_task(load.run())
    await sample(config, ns.warmup, ns.window)  # caches fill
    steady = await sample(config, ns.measure, ns.window)
    for router in routers:
        ray.kill(router, no_restart=False)  # Ray restarts it: same actor, empty cache
    after = await sample(config, ns.measure, ns.window)
    load.stop = True
    await runner
    steady_rate = sum(steady) / len(steady)
    return {
        "steady": steady_rate,
        "peak": max(after),
        "after_mean": sum(after) / len(after),
        "requests_served": load.done,
        "timeline_before": steady,
        "timeline_after": after,
    }


def run_mode(mode: str, ns: Any) -> dict[str, Any]:
    import raydynamo
    from raydynamo.actors.service import router_actor_name, start_service, stop_service

    with tempfile.TemporaryDirectory(prefix="raydynamo-cold-") as data_dir:
        config = service_config(data_dir, mode, ns.routers)
        handles = start_service(config, detached=False)
        client = raydynamo.connect(config=config)
        tables = [f"table-{i:03d}" for i in range(ns.tables)]
        for name in tables:
            client.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        for name in tables:
            client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})
        client.close()
        routers = [
            ray.get_actor(router_actor_name(i), namespace=config.cluster.namespace)
            for i in range(ns.routers)
        ]
        log(f"{mode}: {ns.tables} tables, {ns.routers} routers; restarting all routers under load")
        result = asyncio.run(experiment(config, routers, tables, ns))
        with contextlib.suppress(Exception):
            stop_service(config)
        del handles
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_router", description=__doc__)
    parser.add_argument("--routers", type=int, default=4)
    parser.add_argument("--tables", type=int, default=40)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--measure", type=float, default=12.0)
    parser.add_argument("--window", type=float, default=0.5)
    parser.add_argument("--quick", action="store_true")
    ns = parser.parse_args(argv)
    if ns.quick:
        ns.tables, ns.warmup, ns.measure = 12, 3.0, 9.0
    with local_ray(task_events=False):
        for mode in ("constant", "on_miss"):
            r = run_mode(mode, ns)
            emit(
                BENCH,
                f"metadata_load.{mode}",
                r["peak"],
                "requests/s",
                ceiling=r["steady"],
                ratio=r["peak"] / r["steady"] if r["steady"] else None,
                steady_rps=r["steady"],
                after_restart_mean_rps=r["after_mean"],
                gets_served=r["requests_served"],
                timeline_before=r["timeline_before"],
                timeline_after=r["timeline_after"],
            )


if __name__ == "__main__":
    main()
