"""The CPU cost of one item write on each side of the log, without Ray: router and replica.

Router side: validating a request and planning its operation (``operations.write_plan``), then
encoding the ``ItemWrite`` command. Replica side: applying the encoded command in a slot
(``PartitionStateMachine.apply_slot`` on a ``MemoryEngine``: decode, read the old item, check the
condition, compute the new item, stage it). Four writes: a plain PutItem, a conditional PutItem,
an UpdateItem with an update and a condition expression, and the same update in the legacy
parameters (AttributeUpdates and Expected).

Each figure is the median over ``--reps`` timeit repetitions of this process's CPU time (not wall
time, so that a busy shared machine inflates it less), in microseconds per write, one JSON line
each (``bench.common.emit``). Run: ``python -m bench.write_path`` (a few seconds).
"""

from __future__ import annotations

import argparse
import statistics
import time
import timeit
from collections.abc import Callable
from typing import Any

from bench.common import emit, log
from raydynamo.api.errors import ResourceNotFoundException
from raydynamo.api.schema import KeySchema, TableSchema
from raydynamo.metadata.partition_map import PartitionRange
from raydynamo.operations.write_plan import PlannedWrite, plan_put_item, plan_update_item
from raydynamo.partition.item_writes import ItemWrite, encode_item_write
from raydynamo.partition.keys import PartitionKeys
from raydynamo.partition.state_machine import PartitionStateMachine
from raydynamo.storage.memory import MemoryEngine

BENCH = "write_path"
TABLE = "bench"
PARTITION = PartitionRange("bench-p0", 0, 2**64, ("a", "b", "c"))
SCHEMA = TableSchema(TABLE, "id-bench", KeySchema("pk", "S"))


class _Catalog:
    """The one table the benchmark writes to, in one partition."""

    def schema(self, table_name: str) -> TableSchema:
        if table_name != TABLE:
            raise ResourceNotFoundException("Requested resource not found")
        return SCHEMA

    def partition_for(self, table_name: str, key_hash: int) -> PartitionRange:
        return PARTITION

    def partitions(self, table_name: str) -> list[PartitionRange]:
        return [PARTITION]


def _item(index: int) -> dict[str, Any]:
    return {
        "pk": {"S": f"user{index:08d}"},
        "name": {"S": "a name of some length"},
        "n": {"N": "7"},
        "tags": {"SS": ["red", "green"]},
        "address": {"M": {"city": {"S": "Lyon"}, "zip": {"N": "69001"}}},
    }


REQUESTS: dict[str, Callable[[int], dict[str, Any]]] = {
    "put": lambda i: {"TableName": TABLE, "Item": _item(i)},
    "put_conditional": lambda i: {
        "TableName": TABLE,
        "Item": _item(i),
        "ConditionExpression": "attribute_not_exists(pk) OR #n < :max",
        "ExpressionAttributeNames": {"#n": "n"},
        "ExpressionAttributeValues": {":max": {"N": "100"}},
    },
    "update_expression": lambda i: {
        "TableName": TABLE,
        "Key": {"pk": {"S": f"user{i % 64:08d}"}},
        "UpdateExpression": "SET #name = :name, address.city = :city ADD n :one",
        "ConditionExpression": "attribute_not_exists(n) OR n < :max",
        "ExpressionAttributeNames": {"#name": "name"},
        "ExpressionAttributeValues": {
            ":name": {"S": "another name"},
            ":city": {"S": "Paris"},
            ":one": {"N": "1"},
            ":max": {"N": "1000000"},
        },
    },
    "update_legacy": lambda i: {
        "TableName": TABLE,
        "Key": {"pk": {"S": f"user{i % 64:08d}"}},
        "AttributeUpdates": {
            "name": {"Action": "PUT", "Value": {"S": "another name"}},
            "n": {"Action": "ADD", "Value": {"N": "1"}},
        },
        "Expected": {"n": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "1000000"}]}},
    },
}
PLANNERS = {
    "put": plan_put_item,
    "put_conditional": plan_put_item,
    "update_expression": plan_update_item,
    "update_legacy": plan_update_item,
}


def _command(plan: PlannedWrite, index: int) -> bytes:
    write = ItemWrite(index.to_bytes(8, "big"), plan.schema.key, (plan.op,))
    return encode_item_write(write)


def measure(kind: str, writes: int, reps: int) -> dict[str, float]:
    """Median microseconds per write on the router side and on the replica side."""
    catalog = _Catalog()
    requests = [REQUESTS[kind](i) for i in range(writes)]
    planner = PLANNERS[kind]

    def router_side() -> list[bytes]:
        return [_command(planner(request, catalog), i) for i, request in enumerate(requests)]

    commands = router_side()
    state = {"slot": 0}

    def replica_side() -> None:
        engine = MemoryEngine()
        machine = PartitionStateMachine(PartitionKeys(PARTITION.partition_id))
        for command in commands:
            state["slot"] += 1
            batch, _ = machine.apply_slot(engine, state["slot"], (command,))
            engine.write(batch, sync=False)

    router = timeit.repeat(router_side, number=1, repeat=reps, timer=time.process_time)
    replica = timeit.repeat(replica_side, number=1, repeat=reps, timer=time.process_time)
    return {
        "router_us": statistics.median(router) / writes * 1e6,
        "replica_us": statistics.median(replica) / writes * 1e6,
        "command_bytes": statistics.fmean(len(c) for c in commands),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writes", type=int, default=2000, help="writes per repetition")
    parser.add_argument("--reps", type=int, default=7, help="timeit repetitions (median kept)")
    parser.add_argument("--quick", action="store_true", help="fewer writes and repetitions")
    args = parser.parse_args(argv)
    writes, reps = (300, 3) if args.quick else (args.writes, args.reps)
    for kind in REQUESTS:
        log(f"{BENCH}: {kind}")
        figures = measure(kind, writes, reps)
        emit(BENCH, f"{kind}: router side (validate, plan, encode)", figures["router_us"], "us")
        emit(BENCH, f"{kind}: replica side (decode, condition, apply)", figures["replica_us"], "us")
        emit(BENCH, f"{kind}: command size", figures["command_bytes"], "bytes")


if __name__ == "__main__":
    main()
