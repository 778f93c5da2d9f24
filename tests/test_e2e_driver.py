"""End to end through the driver, on a real local Ray with the whole service running."""

from __future__ import annotations

import asyncio
import itertools
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.ray

KEY_SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
ATTRIBUTES = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "N"},
]


def new_table(client: Any) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    client.create_table(
        TableName=name,
        KeySchema=KEY_SCHEMA,
        AttributeDefinitions=ATTRIBUTES,
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})
    return name


def test_the_boto3_program_runs_unchanged(client: Any) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
    from boto3_program import run

    seen = run(client, table=f"Music-{uuid.uuid4().hex[:6]}")
    assert seen["get"]["Year"] == {"N": "2003"}
    assert seen["updated"] == {"Plays": {"N": "1"}}
    assert seen["conditional"] == "ConditionalCheckFailedException"
    assert seen["query"] == [f"Song {i}" for i in (4, 3, 2, 1, 0)]
    assert seen["scan_count"] == 7
    assert seen["batch_get"] == 1
    assert seen["missing"] == "ResourceNotFoundException"


def test_table_lifecycle_and_description(client: Any) -> None:
    name = new_table(client)
    table = client.describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == KEY_SCHEMA
    assert table["TableArn"].endswith(f"table/{name}")
    assert name in client.list_tables()["TableNames"]
    with pytest.raises(client.exceptions.ResourceInUseException):
        client.create_table(
            TableName=name,
            KeySchema=KEY_SCHEMA,
            AttributeDefinitions=ATTRIBUTES,
            BillingMode="PAY_PER_REQUEST",
        )
    client.delete_table(TableName=name)
    client.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})
    with pytest.raises(client.exceptions.ResourceNotFoundException) as err:
        client.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"N": "1"}})
    assert err.value.response["Error"]["Message"] == "Requested resource not found"


def test_items_queries_and_scans_across_partitions(client: Any) -> None:
    name = new_table(client)
    with client.Table(name).batch_writer() as batch:
        for p in range(20):
            for s in range(5):
                batch.put_item(Item={"pk": f"user-{p}", "sk": Decimal(s), "v": f"{p}/{s}"})
    query = client.query(
        TableName=name,
        KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
        ExpressionAttributeValues={":p": {"S": "user-7"}, ":a": {"N": "1"}, ":b": {"N": "3"}},
    )
    assert [i["sk"]["N"] for i in query["Items"]] == ["1", "2", "3"]
    items = []
    start: dict[str, Any] | None = None
    while True:
        kwargs = {"TableName": name, "Limit": 17}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    assert len(items) == 100
    assert len({(i["pk"]["S"], i["sk"]["N"]) for i in items}) == 100
    segments = [
        client.scan(TableName=name, Segment=s, TotalSegments=3, Select="COUNT")["Count"]
        for s in range(3)
    ]
    assert sum(segments) == 100


def test_bad_input_is_a_clear_error_and_nothing_is_written(client: Any) -> None:
    name = new_table(client)
    with pytest.raises(client.exceptions.ClientError) as err:
        client.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"S": "not a number"}})
    assert err.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(client.exceptions.ClientError) as err:
        client.update_item(
            TableName=name,
            Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
            UpdateExpression="SET #x = :v",
            ExpressionAttributeValues={":v": {"S": "x"}},
        )
    assert "ExpressionAttributeNames" in err.value.response["Error"]["Message"] or (
        "#x" in err.value.response["Error"]["Message"]
    )
    assert client.scan(TableName=name, Select="COUNT")["Count"] == 0


def test_concurrent_conditional_increments_are_never_lost_or_doubled(client: Any) -> None:
    """Many clients race to increment one counter with optimistic conditional updates."""
    name = new_table(client)
    key = {"pk": {"S": "counter"}, "sk": {"N": "0"}}
    client.put_item(TableName=name, Item={**key, "n": {"N": "0"}})
    successes = []

    def worker(_: int) -> int:
        done = 0
        while done < 10:
            current = client.get_item(TableName=name, Key=key, ConsistentRead=True)["Item"]["n"]
            try:
                client.update_item(
                    TableName=name,
                    Key=key,
                    UpdateExpression="SET n = :new",
                    ConditionExpression="n = :old",
                    ExpressionAttributeValues={
                        ":old": current,
                        ":new": {"N": str(int(current["N"]) + 1)},
                    },
                )
                done += 1
            except client.exceptions.ConditionalCheckFailedException:
                continue
        return done

    with ThreadPoolExecutor(8) as pool:
        successes = list(pool.map(worker, range(8)))
    final = client.get_item(TableName=name, Key=key, ConsistentRead=True)["Item"]["n"]["N"]
    assert sum(successes) == 80
    assert final == "80"


def test_async_client(service: Any) -> None:
    import raydynamo

    async def scenario() -> list[str]:
        client = raydynamo.connect_async(config=service)
        try:
            name = f"t-{uuid.uuid4().hex[:10]}"
            await client.create_table(
                TableName=name,
                KeySchema=KEY_SCHEMA,
                AttributeDefinitions=ATTRIBUTES,
                BillingMode="PAY_PER_REQUEST",
            )
            await client.get_waiter("table_exists").wait(
                TableName=name, WaiterConfig={"Delay": 0.2}
            )
            await asyncio.gather(
                *(
                    client.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"N": str(i)}})
                    for i in range(30)
                )
            )
            page = await client.query(
                TableName=name,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "a"}},
                ConsistentRead=True,
            )
            return [item["sk"]["N"] for item in page["Items"]]
        finally:
            await client.close()

    assert asyncio.run(scenario()) == [str(i) for i in range(30)]


def test_controller_restart_keeps_every_table(client: Any, service: Any) -> None:
    """The controller's state lives in the system partition: a restarted controller reloads it."""
    import ray

    from raydynamo.actors.controller import CONTROLLER_NAME

    name = new_table(client)
    client.put_item(TableName=name, Item={"pk": {"S": "kept"}, "sk": {"N": "1"}})
    before = client.list_tables()["TableNames"]
    controller = ray.get_actor(CONTROLLER_NAME, namespace=service.cluster.namespace)
    old_pid = ray.get(controller.__ray_call__.remote(lambda self: __import__("os").getpid()))
    ray.kill(controller, no_restart=False)
    assert client.list_tables()["TableNames"] == before  # answered by the restarted controller
    new_pid = ray.get(controller.__ray_call__.remote(lambda self: __import__("os").getpid()))
    assert new_pid != old_pid
    assert client.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"
    item = client.get_item(
        TableName=name, Key={"pk": {"S": "kept"}, "sk": {"N": "1"}}, ConsistentRead=True
    )
    assert item["Item"]["pk"] == {"S": "kept"}
    new_table(client)  # and it still creates tables


def test_a_client_through_the_router_actors(client: Any, service: Any) -> None:
    """Clients that should not embed a router send everything through the router actors."""
    import raydynamo

    remote = raydynamo.connect(config=service, embedded_router=False)
    try:
        name = new_table(remote)
        remote.put_item(TableName=name, Item={"pk": {"S": "r"}, "sk": {"N": "1"}})
        got = client.get_item(
            TableName=name, Key={"pk": {"S": "r"}, "sk": {"N": "1"}}, ConsistentRead=True
        )
        assert got["Item"]["pk"] == {"S": "r"}
        with pytest.raises(remote.exceptions.ResourceNotFoundException):
            remote.get_item(TableName="missing-table", Key={"pk": {"S": "r"}})
    finally:
        remote.close()


def test_describe_partitions_reports_every_partition_its_items_and_its_load(client: Any) -> None:
    """DescribePartitions (a raydynamo extension): the partitions cover the hash space in order,
    hold every item, and report the units they consumed and who leads them."""
    name = new_table(client)
    for i in range(40):
        client.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "sk": {"N": "1"}})
    for i in range(40):
        key = {"pk": {"S": f"k{i}"}, "sk": {"N": "1"}}
        assert "Item" in client.get_item(TableName=name, Key=key, ConsistentRead=True)
    partitions = client.describe_partitions(TableName=name)["Partitions"]
    assert partitions[0]["HashRangeStart"] == 0
    assert partitions[-1]["HashRangeEnd"] == 2**64 - 1
    for before, after in itertools.pairwise(partitions):
        assert after["HashRangeStart"] == before["HashRangeEnd"] + 1
    assert sum(p["ItemCount"] for p in partitions) == 40
    assert all(p["SizeBytes"] > 0 for p in partitions if p["ItemCount"])
    assert all(p["Leader"] in p["Replicas"] and len(p["Replicas"]) == 3 for p in partitions)
    busy = [p for p in partitions if p["ItemCount"]]
    assert all(p["WriteUnitsPerSecond"] > 0 and p["ReadUnitsPerSecond"] > 0 for p in busy)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_partitions(TableName=f"missing-{uuid.uuid4().hex[:6]}")
