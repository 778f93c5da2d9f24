"""Admission control on real actors, retelling ATC'22's lesson and checking enforcement.

- ``skew``: a PROVISIONED table of 400 WCU over 4 partitions receives 300 one-unit writes per
  second, 80% of them on one key, for ``--seconds``; once through a router that splits the
  table's capacity evenly over partitions (``admission.mode: static``, DynamoDB's original
  design) and once through one under global admission control (``gac``). Printed: the throttled
  fraction of each, per second (for the plot) and overall. The paper's point: the table has
  capacity to spare (300 < 400), yet the static split throttles the hot partition (it holds 100
  of the 400 units), and GAC does not.
- ``flood``: a 50 WCU table flooded by 16 writers for ``--seconds``: admitted writes per second
  against the provisioned 50 (plus what the table held at the start).

Writes are sent open-loop at the target rate (a write that is late is sent at once, never
dropped), with no client retries, so a throttle is counted as the client sees it.

    python -m bench.admission [--seconds 20] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import tempfile
import time
import uuid
from typing import Any

from bench.common import emit, local_ray, log

BENCH = "admission"
# Admission throttles only: a ThrottlingException (an overloaded node) is counted among errors.
THROTTLE_CODES = frozenset({"ProvisionedThroughputExceededException"})


def service_config(data_dir: str) -> Any:
    from raydynamo.config import config_from_dict

    return config_from_dict(
        {
            "storage": {"data_dir": data_dir},
            "cluster": {"namespace": "bench-admission"},
        }
    )


def router_config(config: Any, mode: str) -> Any:
    data = config.model_dump()
    data["admission"]["mode"] = mode
    from raydynamo.config import config_from_dict

    return config_from_dict(data)


async def create_table(client: Any, wcu: int, partitions: int = 1) -> str:
    """A PROVISIONED table of ``wcu`` write units over ``partitions`` partitions. A table's
    partitions come from its throughput (RCU/3,000 + WCU/1,000, rounded up) and are never
    merged, so, as in DynamoDB, one of 400 WCU over 4 partitions is made at 3,900 WCU and then
    decreased."""
    name = f"adm-{uuid.uuid4().hex[:8]}"
    created_wcu = wcu if partitions == 1 else 1000 * partitions - 100
    await client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 100, "WriteCapacityUnits": created_wcu},
    )
    await client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})
    if created_wcu != wcu:
        await client.update_table(
            TableName=name,
            ProvisionedThroughput={"ReadCapacityUnits": 100, "WriteCapacityUnits": wcu},
        )
    count = len((await client.describe_partitions(TableName=name))["Partitions"])
    assert count == partitions, f"{name} has {count} partitions, not {partitions}"
    return name


async def open_loop(
    client: Any, name: str, rate_per_s: float, seconds: float, hot_fraction: float, seed: int
) -> dict[str, Any]:
    """Send ``rate_per_s`` writes per second; per second, how many were sent and throttled."""
    rng = random.Random(seed)
    sent: list[int] = [0] * int(seconds + 1)
    throttled: list[int] = [0] * int(seconds + 1)
    errors: dict[str, int] = {}
    tasks: set[asyncio.Task[None]] = set()
    started = time.monotonic()

    async def one(second: int, key: str) -> None:
        try:
            await client.put_item(TableName=name, Item={"pk": {"S": key}, "v": {"S": "x" * 100}})
        except Exception as err:  # counted by code: the benchmark reports, it does not fail
            code = getattr(err, "code", type(err).__name__)
            if code in THROTTLE_CODES:
                throttled[second] += 1
            else:
                errors[code] = errors.get(code, 0) + 1

    for index in range(int(rate_per_s * seconds)):
        due_s = started + index / rate_per_s
        delay_s = due_s - time.monotonic()
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        second = int(index / rate_per_s)
        key = "hot" if rng.random() < hot_fraction else f"k{rng.randrange(1_000_000)}"
        sent[second] += 1
        task = asyncio.get_running_loop().create_task(one(second, key))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    elapsed_s = time.monotonic() - started
    return {"sent": sent, "throttled": throttled, "errors": errors, "elapsed_s": elapsed_s}


async def flood(client: Any, name: str, seconds: float, writers: int) -> dict[str, Any]:
    admitted = throttled = 0
    started = time.monotonic()

    async def writer(w: int) -> None:
        nonlocal admitted, throttled
        i = 0
        while time.monotonic() - started < seconds:
            i += 1
            try:
                await client.put_item(TableName=name, Item={"pk": {"S": f"{w}-{i}"}})
                admitted += 1
            except Exception as err:  # counted by code
                if getattr(err, "code", "") not in THROTTLE_CODES:
                    raise
                throttled += 1
                await asyncio.sleep(0.002)

    await asyncio.gather(*(writer(w) for w in range(writers)))
    return {"admitted": admitted, "throttled": throttled, "elapsed_s": time.monotonic() - started}


async def experiment(config: Any, ns: Any) -> None:
    from raydynamo.actors.router import Router
    from raydynamo.driver.aio import AsyncClient

    for mode in ("static", "gac"):
        client = AsyncClient(Router(router_config(config, mode)), attempts_max=1, owns_handler=True)
        try:
            name = await create_table(client, 400, partitions=4)
            log(f"skew, {mode}: 300 writes/s, 80% on one key, {ns.seconds:.0f} s")
            run = await open_loop(client, name, 300.0, ns.seconds, 0.8, seed=1)
        finally:
            await client.close()
        sent, throttled = sum(run["sent"]), sum(run["throttled"])
        per_second = [
            t / s if s else 0.0 for t, s in zip(run["throttled"], run["sent"], strict=True)
        ]
        emit(
            BENCH,
            f"skew.{mode}.throttled_fraction",
            throttled / sent if sent else 0.0,
            "fraction",
            sent=sent,
            throttled=throttled,
            errors=run["errors"],
            throttled_per_second=[round(f, 4) for f in per_second],
            table_wcu=400,
            partitions=4,
            offered_per_s=300,
            hot_fraction=0.8,
        )
    client = AsyncClient(Router(router_config(config, "gac")), attempts_max=1, owns_handler=True)
    try:
        name = await create_table(client, 50)
        log(f"flood: 16 writers on a 50 WCU table, {ns.seconds:.0f} s")
        result = await flood(client, name, ns.seconds, 16)
    finally:
        await client.close()
    rate = result["admitted"] / result["elapsed_s"]
    emit(
        BENCH,
        "flood.admitted_per_s",
        rate,
        "writes/s",
        ceiling=50.0,
        throttled=result["throttled"],
        admitted=result["admitted"],
        elapsed_s=round(result["elapsed_s"], 2),
        note="ceiling: the provisioned 50 WCU; one second of it is held at the start",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.admission", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true")
    ns = parser.parse_args(argv)
    if ns.quick:
        ns.seconds = 8.0
    from raydynamo.actors.service import start_service, stop_service

    with local_ray(task_events=False), tempfile.TemporaryDirectory(prefix="rd-adm-") as data_dir:
        config = service_config(data_dir)
        handles = start_service(config, detached=False)
        try:
            asyncio.run(experiment(config, ns))
        finally:
            with contextlib.suppress(Exception):
                stop_service(config)
            del handles


if __name__ == "__main__":
    main()
