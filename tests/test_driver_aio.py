"""``AsyncClient``: the same surface as coroutines, on the caller's event loop."""

from __future__ import annotations

import asyncio
import inspect
import pickle
import threading
from decimal import Decimal
from typing import Any

import pytest

from raydynamo.api import errors
from raydynamo.driver import AsyncClient, Attr, Client, Key, ParamValidationError
from raydynamo.driver.operations import OPERATIONS
from tests.test_driver_fakes import FakeHandler

KEY_SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
DEFINITIONS = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "N"},
]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_both_clients_have_the_same_operations() -> None:
    for op in OPERATIONS:
        assert inspect.iscoroutinefunction(getattr(AsyncClient, op.method)), op.method
        assert not inspect.iscoroutinefunction(getattr(Client, op.method)), op.method
        assert getattr(AsyncClient, op.method).__name__ == op.method


def test_calls_run_on_the_callers_loop_and_pass_requests_through() -> None:
    threads: list[int] = []

    class Recording(FakeHandler):
        async def call(
            self, operation: str, request: dict[str, Any], request_id: str | None = None
        ) -> dict[str, Any]:
            threads.append(threading.get_ident())
            return await super().call(operation, request)

    handler = Recording()

    async def main() -> dict[str, Any]:
        client = AsyncClient(handler)
        await client.create_table(
            TableName="t", KeySchema=KEY_SCHEMA, AttributeDefinitions=DEFINITIONS
        )
        await client.put_item(TableName="t", Item={"pk": {"S": "a"}, "sk": {"N": "1"}})
        return await client.get_item(TableName="t", Key={"pk": {"S": "a"}, "sk": {"N": "1"}})

    response = run(main())
    assert response["Item"] == {"pk": {"S": "a"}, "sk": {"N": "1"}}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert set(threads) == {threading.get_ident()}
    assert handler.last("PutItem") == {
        "TableName": "t",
        "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}},
    }


def test_errors_and_argument_checks_match_the_sync_client() -> None:
    handler = FakeHandler()
    client = AsyncClient(handler)

    async def main() -> None:
        with pytest.raises(TypeError, match="only accepts keyword arguments"):
            await client.describe_table("t")
        with pytest.raises(ParamValidationError):
            await client.describe_table(Table="t")
        with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
            await client.describe_table(TableName="t")
        assert str(caught.value).startswith(
            "An error occurred (ResourceNotFoundException) when calling the DescribeTable"
        )

    run(main())
    assert handler.operations() == ["DescribeTable"]


def test_throttling_retries_use_the_injected_async_sleep() -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    handler = FakeHandler()
    handler.script("ListTables", errors.ThrottlingException("slow"), {"TableNames": []})
    response = run(AsyncClient(handler, sleep=fake_sleep).list_tables())
    assert response["ResponseMetadata"]["RetryAttempts"] == 1 and len(slept) == 1


def test_async_table_batch_writer_paginator_and_waiter() -> None:
    handler = FakeHandler()
    slept: list[float] = []

    async def main() -> None:
        async with AsyncClient(handler, sleep=slept.append, owns_handler=True) as client:
            await client.create_table(
                TableName="t", KeySchema=KEY_SCHEMA, AttributeDefinitions=DEFINITIONS
            )
            await client.get_waiter("table_exists").wait(TableName="t")
            table = client.Table("t")
            async with table.batch_writer() as batch:
                for i in range(30):
                    await batch.put_item(Item={"pk": "a", "sk": i, "n": Decimal(i) / 2})
            page = await table.query(
                KeyConditionExpression=Key("pk").eq("a") & Key("sk").gte(28),
                FilterExpression=Attr("n").gt(0),
            )
            assert page["Items"] == [
                {"pk": "a", "sk": Decimal(28), "n": Decimal(14)},
                {"pk": "a", "sk": Decimal(29), "n": Decimal("14.5")},
            ]
            pages = [
                p
                async for p in client.get_paginator("scan").paginate(
                    TableName="t", PaginationConfig={"PageSize": 7}
                )
            ]
            assert [len(p["Items"]) for p in pages] == [7, 7, 7, 7, 2]
            full = await client.get_paginator("scan").paginate(TableName="t").build_full_result()
            assert full["Count"] == 30
            with pytest.raises(RuntimeError, match="load"):
                _ = table.key_schema
            await table.load()
            assert table.key_schema == KEY_SCHEMA
            with pytest.raises(TypeError, match="Float"):
                await table.put_item(Item={"pk": "a", "sk": 0.5})

    run(main())
    assert handler.closed
    assert slept == []


def test_one_async_client_serves_several_loops() -> None:
    client = AsyncClient(FakeHandler())
    assert run(client.list_tables())["TableNames"] == []
    assert run(client.list_tables())["TableNames"] == []


def test_a_closed_async_client_refuses_calls() -> None:
    client = AsyncClient(FakeHandler())

    async def main() -> None:
        await client.close()
        with pytest.raises(RuntimeError, match="closed"):
            await client.list_tables()

    run(main())


def test_an_async_client_pickles() -> None:
    handler = FakeHandler()
    copy = pickle.loads(pickle.dumps(AsyncClient(handler)))
    assert run(copy.list_tables())["TableNames"] == []


def test_handler_must_have_call() -> None:
    with pytest.raises(TypeError, match="call"):
        AsyncClient(object())  # type: ignore[arg-type]
