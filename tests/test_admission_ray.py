"""Admission control on the real service: a provisioned table admits about its capacity and
throttles the rest with DynamoDB's error, before anything is proposed; an on-demand table is not
throttled at the same load; the driver's retries get a throttled write through; UpdateTable
changes what is enforced; all of it over HTTP too.

The outcomes do not depend on how fast the machine is: requests are sent as one burst, so the
router decides them all against the grant it holds at that moment (a few units for a small
table), or a table is first put in debt by one large batch, which only time repays.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

pytestmark = pytest.mark.ray

KEY_SCHEMA = [{"AttributeName": "pk", "KeyType": "HASH"}]
ATTRIBUTES = [{"AttributeName": "pk", "AttributeType": "S"}]
THROTTLED = "ProvisionedThroughputExceededException"


def provisioned(write_units: int, read_units: int = 50) -> dict[str, Any]:
    return {
        "BillingMode": "PROVISIONED",
        "ProvisionedThroughput": {
            "ReadCapacityUnits": read_units,
            "WriteCapacityUnits": write_units,
        },
    }


async def _create(client: Any, **billing: Any) -> str:
    name = f"adm-{uuid.uuid4().hex[:10]}"
    await client.create_table(
        TableName=name, KeySchema=KEY_SCHEMA, AttributeDefinitions=ATTRIBUTES, **billing
    )
    await client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})
    return name


async def _burst(client: Any, name: str, count: int, prefix: str = "k") -> dict[str, Any]:
    """``count`` puts sent at once; their outcomes by code, and the keys written."""
    results = await asyncio.gather(
        *(
            client.put_item(TableName=name, Item={"pk": {"S": f"{prefix}{i}"}})
            for i in range(count)
        ),
        return_exceptions=True,
    )
    outcomes: dict[str, int] = {}
    written = []
    for i, result in enumerate(results):
        code = getattr(result, "code", type(result).__name__) if result is not None else "?"
        if isinstance(result, dict):
            code = "ok"
            written.append(f"{prefix}{i}")
        outcomes[code] = outcomes.get(code, 0) + 1
    return {"outcomes": outcomes, "written": written}


async def _count(client: Any, name: str) -> int:
    total = 0
    start: dict[str, Any] | None = None
    while True:
        request: dict[str, Any] = {"TableName": name, "ConsistentRead": True}
        if start is not None:
            request["ExclusiveStartKey"] = start
        page = await client.scan(**request)
        total += page["Count"]
        start = page.get("LastEvaluatedKey")
        if start is None:
            return total


def _router_client(service: Any) -> Any:
    from raydynamo.actors.router import Router
    from raydynamo.driver.aio import AsyncClient

    return AsyncClient(Router(service), attempts_max=1, owns_handler=True)  # no retries


def test_a_burst_on_a_provisioned_table_is_cut_to_its_capacity(service: Any) -> None:
    async def scenario() -> tuple[dict[str, Any], int, float]:
        client = _router_client(service)
        try:
            name = await _create(client, **provisioned(5))
            started = time.monotonic()
            burst = await _burst(client, name, 40)
            elapsed_s = time.monotonic() - started
            return burst, await _count(client, name), elapsed_s
        finally:
            await client.close()

    burst, stored, elapsed_s = asyncio.run(scenario())
    outcomes = burst["outcomes"]
    assert set(outcomes) <= {"ok", THROTTLED}, outcomes
    admitted = outcomes.get("ok", 0)
    # Five units a second: the second the table holds at the start, what it earns while the
    # burst is decided, and (should the admission actor be slow to answer) the router's own
    # one-period grant on top: far below the forty sent.
    assert 1 <= admitted <= 2 * (5 + 5 * elapsed_s) + 2, (outcomes, elapsed_s)
    assert outcomes.get(THROTTLED, 0) >= 40 - admitted
    assert stored == admitted  # a throttled write left nothing behind


def test_an_on_demand_table_takes_the_same_burst(service: Any) -> None:
    async def scenario() -> dict[str, Any]:
        client = _router_client(service)
        try:
            name = await _create(client, BillingMode="PAY_PER_REQUEST")
            return await _burst(client, name, 40)
        finally:
            await client.close()

    assert asyncio.run(scenario())["outcomes"] == {"ok": 40}


def test_the_driver_retries_throttled_writes_until_they_fit(service: Any) -> None:
    import raydynamo

    async def scenario() -> int:
        client = raydynamo.connect_async(config=service)  # the driver's boto3-like retries
        try:
            name = await _create(client, **provisioned(5, read_units=5))
            burst = await _burst(client, name, 15)  # three seconds of capacity at once
            assert burst["outcomes"] == {"ok": 15}, burst["outcomes"]
            return await _count(client, name)
        finally:
            await client.close()

    assert asyncio.run(scenario()) == 15


def test_update_table_raises_the_capacity_admission_enforces(service: Any) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        client = _router_client(service)
        try:
            name = await _create(client, **provisioned(1))
            answer = await client.update_table(
                TableName=name,
                ProvisionedThroughput={"ReadCapacityUnits": 50, "WriteCapacityUnits": 2000},
            )
            described = await client.describe_table(TableName=name)
            burst = await _burst(client, name, 40)  # one unit a second would take about one
            return answer["TableDescription"], described["Table"], burst
        finally:
            await client.close()

    answered, described, burst = asyncio.run(scenario())
    assert answered["TableStatus"] == "UPDATING"
    assert described["TableStatus"] == "ACTIVE"
    assert described["ProvisionedThroughput"]["WriteCapacityUnits"] == 2000
    assert "LastIncreaseDateTime" in described["ProvisionedThroughput"]
    assert burst["outcomes"] == {"ok": 40}


def test_a_batch_over_a_table_out_of_capacity_returns_its_items_unprocessed(
    service: Any,
) -> None:
    def puts(prefix: str, count: int) -> list[dict[str, Any]]:
        return [{"PutRequest": {"Item": {"pk": {"S": f"{prefix}{i}"}}}} for i in range(count)]

    async def scenario() -> tuple[dict[str, int], int, int, int]:
        client = _router_client(service)
        try:
            # One write unit per second (a provisioned table this small has one partition):
            # the first batch's one command is admitted and leaves the table in debt.
            slow = await _create(client, **provisioned(1))
            fast = await _create(client, BillingMode="PAY_PER_REQUEST")
            await client.batch_write_item(RequestItems={slow: puts("first", 10)})
            answer = await client.batch_write_item(
                RequestItems={slow: puts("second", 5), fast: puts("second", 5)}
            )
            labels = {slow: "slow", fast: "fast"}
            unprocessed = {labels[t]: len(v) for t, v in answer["UnprocessedItems"].items()}
            pending = answer["UnprocessedItems"].get(slow, [])
            rounds = 0
            while pending and rounds < 300:  # resent as a client would, with a pause
                rounds += 1
                await asyncio.sleep(0.25)
                try:
                    again = await client.batch_write_item(RequestItems={slow: pending})
                except Exception as err:  # the whole batch throttled: nothing was written
                    assert getattr(err, "code", "") == THROTTLED
                    continue
                pending = again["UnprocessedItems"].get(slow, [])
            return unprocessed, await _count(client, slow), await _count(client, fast), len(pending)
        finally:
            await client.close()

    unprocessed, slow_count, fast_count, left = asyncio.run(scenario())
    assert unprocessed == {"slow": 5}  # the table out of capacity; the other one's were written
    assert fast_count == 5
    assert left == 0 and slow_count == 15  # resent until in, none lost or doubled


def test_update_table_and_a_throttle_over_http(endpoint: str) -> None:
    from tests.endpoint_support import boto3_client

    client = boto3_client(endpoint)  # one attempt: a throttle is seen, not retried
    name = f"adm-{uuid.uuid4().hex[:10]}"
    client.create_table(
        TableName=name,
        KeySchema=KEY_SCHEMA,
        AttributeDefinitions=ATTRIBUTES,
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    answer = client.update_table(
        TableName=name, ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 2}
    )
    assert answer["TableDescription"]["ProvisionedThroughput"]["WriteCapacityUnits"] == 2
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.update_table(
            TableName=name, ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 2}
        )
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "will not change" in caught.value.response["Error"]["Message"]
    # A batch of 25 is one command: admitted on the unit the endpoint's router holds, it leaves
    # the table 24 units in debt, which two units a second take twelve seconds to repay.
    items = [{"PutRequest": {"Item": {"pk": {"S": f"b{i}"}}}} for i in range(25)]
    first = client.batch_write_item(RequestItems={name: items})
    assert first["UnprocessedItems"] == {}
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda i: _put_code(client, name, f"p{i}"), range(4)))
    assert THROTTLED in outcomes, outcomes


def _put_code(client: Any, name: str, key: str) -> str:
    try:
        client.put_item(TableName=name, Item={"pk": {"S": key}})
    except client.exceptions.ClientError as err:
        return str(err.response["Error"]["Code"])
    return "ok"
