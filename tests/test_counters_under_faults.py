"""Exactly once under faults, for real: counters incremented while storage nodes die.

Clients increment counters with ``UpdateItem ADD`` through the driver while storage node
processes are SIGKILLed (Ray restarts them) and one storage node is removed for good (the
controller heals its partitions onto the spare node). Every increment is either acknowledged or
its outcome is unknown (the driver gave up with an error); at the end every counter must lie
between its acknowledged increments and those plus the unknown ones: never an increment lost,
never one applied twice. The healing must have finished: three members per partition, none of
them the removed node.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest
import ray

from raydynamo.actors.controller import CONTROLLER_NAME
from raydynamo.actors.service import start_service, stop_service
from raydynamo.actors.storage_node import storage_actor_name
from raydynamo.metadata.member_ids import node_of
from tests.conftest import service_config

pytestmark = pytest.mark.ray

NAMESPACE = "raydynamo-counters"
TABLE = "counters"
COUNTERS = 8
CLIENTS = 12
INCREMENTS_PER_CLIENT = 50


@pytest.fixture(scope="module")
def faulty_service(ray_session: object) -> Iterator[Any]:
    with tempfile.TemporaryDirectory(prefix="raydynamo-counters-") as path:
        config = service_config(
            path,
            NAMESPACE,
            cluster={"storage_nodes": 4, "partitions_per_table": 3, "routers": 0},
            controller={"health_interval_s": 0.5, "node_dead_after_s": 3.0},
            router={"refresh_interval_s": 0.1, "request_timeout_s": 10.0},
        )
        handles = start_service(config, detached=False)
        yield config
        stop_service(config)
        del handles


async def wait_for(condition: Any, timeout_s: float, what: str) -> None:
    """Re-check ``condition`` (a coroutine function) until it holds, up to a deadline."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def test_counters_end_between_acknowledged_and_acknowledged_plus_unknown(
    faulty_service: Any,
) -> None:
    import raydynamo

    config = faulty_service
    client = raydynamo.connect_async(config=config)
    controller = ray.get_actor(CONTROLLER_NAME, namespace=NAMESPACE)
    acked = [0] * COUNTERS
    unknown = [0] * COUNTERS
    errors: dict[str, int] = {}

    async def scenario() -> list[int]:
        await client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        waiter = client.get_waiter("table_exists")
        await waiter.wait(TableName=TABLE, WaiterConfig={"Delay": 0.2})

        async def increments(worker: int) -> None:
            rng = random.Random(worker)
            for _ in range(INCREMENTS_PER_CLIENT):
                counter = rng.randrange(COUNTERS)
                try:
                    await client.update_item(
                        TableName=TABLE,
                        Key={"id": {"S": f"c{counter}"}},
                        UpdateExpression="ADD n :one",
                        ExpressionAttributeValues={":one": {"N": "1"}},
                    )
                    acked[counter] += 1
                except Exception as err:  # the outcome is unknown: it may or may not count
                    unknown[counter] += 1
                    name = type(err).__name__
                    errors[name] = errors.get(name, 0) + 1

        async def after_acks(count: int) -> None:
            async def reached() -> bool:
                return sum(acked) >= count

            await wait_for(reached, 120, f"{count} acknowledged increments")

        async def faults() -> str:
            nodes = [f"sn{i}" for i in range(config.cluster.storage_nodes)]
            handles = {n: ray.get_actor(storage_actor_name(n), namespace=NAMESPACE) for n in nodes}
            pids = {n: await handles[n].pid.remote() for n in nodes}
            status = await controller.status.remote()
            table = next(t for t in status["tables"] if t["table"] == TABLE)
            hosting = {m for p in table["partitions"] for m in p["members"]}
            system = set(status["system_members"])
            removed = sorted(hosting - system)[0]  # hosts table replicas, not the system's
            crashed = sorted(system)[:2]
            await after_acks(60)
            os.kill(pids[crashed[0]], signal.SIGKILL)  # a crash: Ray restarts it
            await after_acks(180)
            os.kill(pids[crashed[1]], signal.SIGKILL)
            await after_acks(300)
            ray.kill(handles[removed], no_restart=True)  # gone for good: the controller heals
            return removed

        results = await asyncio.gather(*(increments(w) for w in range(CLIENTS)), faults())
        removed = results[-1]

        async def healed() -> bool:
            status = await controller.status.remote()
            table = next(t for t in status["tables"] if t["table"] == TABLE)
            return all(
                len(p["members"]) == 3
                and removed not in {node_of(m) for m in p["members"]}
                and p["healthy"]
                for p in table["partitions"]
            )

        await wait_for(healed, 90, "the controller to heal the removed node's replicas")
        values = []
        for counter in range(COUNTERS):
            item = await client.get_item(
                TableName=TABLE, Key={"id": {"S": f"c{counter}"}}, ConsistentRead=True
            )
            values.append(int(item.get("Item", {}).get("n", {}).get("N", "0")))
        return values

    values = asyncio.run(scenario())
    for counter in range(COUNTERS):
        low, high = acked[counter], acked[counter] + unknown[counter]
        assert low <= values[counter] <= high, (
            f"counter {counter} is {values[counter]}, outside [{low}, {high}] ({errors})"
        )
    assert sum(acked) > CLIENTS * INCREMENTS_PER_CLIENT // 2, f"too little got through: {errors}"
