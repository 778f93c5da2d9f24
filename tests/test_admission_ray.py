"""Admission control on the real service: a provisioned table admits about its capacity and
throttles the rest with DynamoDB's error, before anything is proposed; an on-demand table is not
throttled at the same load; the driver's retries get a throttled write through."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.ray

KEY_SCHEMA = [{"AttributeName": "pk", "KeyType": "HASH"}]
ATTRIBUTES = [{"AttributeName": "pk", "AttributeType": "S"}]


async def _create(client: Any, **billing: Any) -> str:
    name = f"adm-{uuid.uuid4().hex[:10]}"
    await client.create_table(
        TableName=name, KeySchema=KEY_SCHEMA, AttributeDefinitions=ATTRIBUTES, **billing
    )
    await client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})
    return name


async def _flood(client: Any, name: str, seconds: float, writers: int) -> dict[str, Any]:
    """Write as fast as ``writers`` coroutines can for ``seconds``; count outcomes by code."""
    outcomes: dict[str, int] = {}
    written: list[str] = []
    started = time.monotonic()

    async def writer(w: int) -> None:
        i = 0
        while time.monotonic() - started < seconds:
            key = f"w{w}-{i}"
            i += 1
            try:
                await client.put_item(TableName=name, Item={"pk": {"S": key}})
            except Exception as err:  # counted by code below; anything else fails the test
                code = getattr(err, "code", type(err).__name__)
                outcomes[code] = outcomes.get(code, 0) + 1
                if code != "ProvisionedThroughputExceededException":
                    raise
                await asyncio.sleep(0.005)  # a throttled client backs off a little
            else:
                outcomes["ok"] = outcomes.get("ok", 0) + 1
                written.append(key)

    await asyncio.gather(*(writer(w) for w in range(writers)))
    return {"outcomes": outcomes, "elapsed_s": time.monotonic() - started, "written": written}


def test_a_flooded_provisioned_table_admits_its_capacity_and_throttles_the_rest(
    service: Any,
) -> None:
    from raydynamo.actors.router import Router
    from raydynamo.driver.aio import AsyncClient

    async def scenario() -> tuple[dict[str, Any], int]:
        client = AsyncClient(Router(service), attempts_max=1, owns_handler=True)
        try:
            name = await _create(
                client,
                BillingMode="PROVISIONED",
                ProvisionedThroughput={"ReadCapacityUnits": 50, "WriteCapacityUnits": 5},
            )
            flood = await _flood(client, name, seconds=3.0, writers=8)
            stored = 0
            async for page in _scan_pages(client, name):
                stored += page["Count"]
            return flood, stored
        finally:
            await client.close()

    flood, stored = asyncio.run(scenario())
    outcomes, elapsed_s = flood["outcomes"], flood["elapsed_s"]
    admitted = outcomes.get("ok", 0)
    # 5 units per second, one second of them held at the start, and the router's first grant
    # (at least one unit); one-unit writes.
    assert admitted <= 5 * elapsed_s + 5 + 2, outcomes
    assert admitted >= 5, outcomes
    assert outcomes.get("ProvisionedThroughputExceededException", 0) > 0, outcomes
    assert stored == admitted  # a throttled write left nothing behind


async def _scan_pages(client: Any, name: str) -> Any:
    start: dict[str, Any] | None = None
    while True:
        request: dict[str, Any] = {"TableName": name, "ConsistentRead": True}
        if start is not None:
            request["ExclusiveStartKey"] = start
        page = await client.scan(**request)
        yield page
        start = page.get("LastEvaluatedKey")
        if start is None:
            return


def test_an_on_demand_table_is_not_throttled_at_that_load(service: Any) -> None:
    from raydynamo.actors.router import Router
    from raydynamo.driver.aio import AsyncClient

    async def scenario() -> dict[str, Any]:
        client = AsyncClient(Router(service), attempts_max=1, owns_handler=True)
        try:
            name = await _create(client, BillingMode="PAY_PER_REQUEST")
            return await _flood(client, name, seconds=1.5, writers=8)
        finally:
            await client.close()

    outcomes = asyncio.run(scenario())["outcomes"]
    assert set(outcomes) == {"ok"} and outcomes["ok"] > 5, outcomes


def test_the_driver_retries_throttled_writes_until_they_fit(service: Any) -> None:
    import raydynamo

    async def scenario() -> tuple[int, int]:
        client = raydynamo.connect_async(config=service)
        try:
            name = await _create(
                client,
                BillingMode="PROVISIONED",
                ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            )
            await asyncio.gather(  # 15 writes at once: three seconds of capacity
                *(client.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}}) for i in range(15))
            )
            page = await client.scan(TableName=name, ConsistentRead=True)
            return page["Count"], page["ScannedCount"]
        finally:
            await client.close()

    assert asyncio.run(scenario()) == (15, 15)


def test_update_table_raises_the_capacity_admission_enforces(service: Any) -> None:
    from raydynamo.actors.router import Router
    from raydynamo.driver.aio import AsyncClient

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        client = AsyncClient(Router(service), attempts_max=1, owns_handler=True)
        try:
            name = await _create(
                client,
                BillingMode="PROVISIONED",
                ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            )
            answer = await client.update_table(
                TableName=name,
                ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 500},
            )
            described = await client.describe_table(TableName=name)
            flood = await _flood_until(client, name, admitted_min=60, seconds_max=30.0)
            return answer["TableDescription"], described["Table"], flood
        finally:
            await client.close()

    answered, described, flood = asyncio.run(scenario())
    assert answered["TableStatus"] == "UPDATING"
    assert described["TableStatus"] == "ACTIVE"
    assert described["ProvisionedThroughput"]["WriteCapacityUnits"] == 500
    assert "LastIncreaseDateTime" in described["ProvisionedThroughput"]
    # The old 5 units per second could not have admitted this many in that time.
    assert flood["admitted"] > 5 * flood["elapsed_s"] + 7, flood


async def _flood_until(
    client: Any, name: str, *, admitted_min: int, seconds_max: float
) -> dict[str, Any]:
    started = time.monotonic()
    admitted = throttled = 0
    while admitted < admitted_min and time.monotonic() - started < seconds_max:
        results = await asyncio.gather(
            *(
                client.put_item(TableName=name, Item={"pk": {"S": f"k{admitted}-{i}"}})
                for i in range(8)
            ),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                assert getattr(result, "code", "") == "ProvisionedThroughputExceededException"
                throttled += 1
            else:
                admitted += 1
    return {"admitted": admitted, "throttled": throttled, "elapsed_s": time.monotonic() - started}


def test_a_batch_over_a_table_out_of_capacity_returns_its_items_unprocessed(
    service: Any,
) -> None:
    from raydynamo.actors.router import Router
    from raydynamo.driver.aio import AsyncClient

    def puts(prefix: str, count: int) -> list[dict[str, Any]]:
        return [{"PutRequest": {"Item": {"pk": {"S": f"{prefix}{i}"}}}} for i in range(count)]

    async def scenario() -> tuple[dict[str, int], int, int, int]:
        client = AsyncClient(Router(service), attempts_max=1, owns_handler=True)
        try:
            # One write unit per second (a provisioned table this small has one partition):
            # the first batch's one command is admitted and leaves the table in debt.
            slow = await _create(
                client,
                BillingMode="PROVISIONED",
                ProvisionedThroughput={"ReadCapacityUnits": 50, "WriteCapacityUnits": 1},
            )
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
                    assert getattr(err, "code", "") == "ProvisionedThroughputExceededException"
                    continue
                pending = again["UnprocessedItems"].get(slow, [])
            slow_count = (await client.scan(TableName=slow, ConsistentRead=True))["Count"]
            fast_count = (await client.scan(TableName=fast, ConsistentRead=True))["Count"]
            return unprocessed, slow_count, fast_count, len(pending)
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
    codes = []
    started = time.monotonic()
    for i in range(60):  # at 2 write units per second, 60 puts cannot all be admitted
        try:
            client.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}})
        except client.exceptions.ClientError as err:
            codes.append(err.response["Error"]["Code"])
            break
    assert codes == ["ProvisionedThroughputExceededException"], (codes, time.monotonic() - started)
