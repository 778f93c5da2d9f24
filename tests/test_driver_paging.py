"""Paginators follow continuation tokens; waiters poll DescribeTable (with an injected sleep)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from raydynamo.api import errors
from raydynamo.driver import Client, PaginationError, ParamValidationError, WaiterError
from tests.test_driver_fakes import FakeHandler

KEY_SCHEMA = [{"AttributeName": "pk", "KeyType": "HASH"}]
DEFINITIONS = [{"AttributeName": "pk", "AttributeType": "B"}]


@pytest.fixture
def handler() -> FakeHandler:
    return FakeHandler()


@pytest.fixture
def client(handler: FakeHandler) -> Iterator[Any]:
    sleeps: list[float] = []
    client = Client(handler, sleep=sleeps.append)
    client.sleeps = sleeps  # type: ignore[attr-defined]
    yield client
    client.close()


@pytest.fixture
def loaded(client: Client, handler: FakeHandler) -> Client:
    """Table "t" with 10 items whose keys are binary (so tokens must carry bytes)."""
    client.create_table(TableName="t", KeySchema=KEY_SCHEMA, AttributeDefinitions=DEFINITIONS)
    for i in range(10):
        client.put_item(TableName="t", Item={"pk": {"B": bytes([i])}, "i": {"N": str(i)}})
    handler.calls.clear()
    return client


def _numbers(items: list[dict[str, Any]]) -> list[int]:
    return [int(item["i"]["N"]) for item in items]


def test_scan_paginator_follows_last_evaluated_key(loaded: Client, handler: FakeHandler) -> None:
    pages = list(
        loaded.get_paginator("scan").paginate(TableName="t", PaginationConfig={"PageSize": 4})
    )
    assert [_numbers(p["Items"]) for p in pages] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    sent = [r for op, r in handler.calls if op == "Scan"]
    assert [r.get("ExclusiveStartKey") for r in sent] == [
        None,
        pages[0]["LastEvaluatedKey"],
        pages[1]["LastEvaluatedKey"],
    ]
    assert all(r["Limit"] == 4 for r in sent)
    assert all("ResponseMetadata" in p for p in pages)


def test_query_paginator_and_full_result(loaded: Client, handler: FakeHandler) -> None:
    paginator = loaded.get_paginator("query")
    result = paginator.paginate(
        TableName="t",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"B": b"\x03"}},
        PaginationConfig={"PageSize": 1},
    ).build_full_result()
    assert _numbers(result["Items"]) == [3]
    assert result["Count"] == 1 and "NextToken" not in result


def test_max_items_cuts_pages_and_resumes_exactly(loaded: Client) -> None:
    paginator = loaded.get_paginator("scan")
    seen: list[int] = []
    token = None
    rounds = 0
    while True:
        config: dict[str, Any] = {"PageSize": 4, "MaxItems": 3}
        if token:
            config["StartingToken"] = token
        iterator = paginator.paginate(TableName="t", PaginationConfig=config)
        result = iterator.build_full_result()
        assert result["Count"] == len(result["Items"]) <= 3
        seen += _numbers(result["Items"])
        token = result.get("NextToken")
        assert token == iterator.resume_token
        rounds += 1
        if token is None:
            break
    assert seen == list(range(10))
    assert rounds == 4


def test_build_full_result_sums_counts(loaded: Client) -> None:
    result = (
        loaded.get_paginator("scan")
        .paginate(
            TableName="t",
            FilterExpression="i >= :x",
            ExpressionAttributeValues={":x": {"N": "5"}},
            PaginationConfig={"PageSize": 3},
        )
        .build_full_result()
    )
    assert _numbers(result["Items"]) == [5, 6, 7, 8, 9]
    assert result["Count"] == 5 and result["ScannedCount"] == 10
    assert "ResponseMetadata" not in result


def test_list_tables_paginator(client: Client, handler: FakeHandler) -> None:
    for name in ("a", "b", "c", "d", "e"):
        client.create_table(TableName=name, KeySchema=KEY_SCHEMA, AttributeDefinitions=DEFINITIONS)
    paginator = client.get_paginator("list_tables")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 2}))
    assert [p["TableNames"] for p in pages] == [["a", "b"], ["c", "d"], ["e"]]
    assert paginator.paginate().build_full_result() == {"TableNames": ["a", "b", "c", "d", "e"]}
    requests = [r for op, r in handler.calls if op == "ListTables"]
    assert requests[1] == {"Limit": 2, "ExclusiveStartTableName": "b"}


def test_a_repeated_token_stops_the_paginator(client: Client, handler: FakeHandler) -> None:
    page = {"Items": [], "Count": 0, "LastEvaluatedKey": {"pk": {"S": "x"}}}
    handler.script("Scan", page, page)
    with pytest.raises(PaginationError, match="same next token"):
        list(client.get_paginator("scan").paginate(TableName="t"))


def test_paginator_names_and_config_are_checked(client: Client) -> None:
    assert client.can_paginate("scan") and not client.can_paginate("get_item")
    with pytest.raises(ValueError, match="cannot be paginated"):
        client.get_paginator("get_item")
    with pytest.raises(ParamValidationError):
        client.get_paginator("scan").paginate(TableName="t", PaginationConfig={"Pagesize": 2})
    with pytest.raises(ParamValidationError, match="StartingToken"):
        client.get_paginator("scan").paginate(
            TableName="t", PaginationConfig={"StartingToken": "???"}
        )


# ---------------------------------------------------------------- waiters


def test_table_exists_polls_until_active(client: Any, handler: FakeHandler) -> None:
    client.create_table(TableName="t", KeySchema=KEY_SCHEMA, AttributeDefinitions=DEFINITIONS)
    handler.tables["t"].statuses = ["CREATING", "CREATING"]
    handler.calls.clear()
    assert client.get_waiter("table_exists").wait(TableName="t") is None
    assert handler.operations() == ["DescribeTable"] * 3
    assert handler.calls[0][1] == {"TableName": "t"}
    assert client.sleeps == [1.0, 1.0]  # no sleep before the first poll


def test_table_exists_retries_not_found_and_honours_waiter_config(
    client: Any, handler: FakeHandler
) -> None:
    handler.script("DescribeTable", errors.ResourceNotFoundException("not yet"))
    handler.script("DescribeTable", {"Table": {"TableStatus": "ACTIVE"}})
    client.get_waiter("table_exists").wait(TableName="t", WaiterConfig={"Delay": 5})
    assert client.sleeps == [5.0]


def test_waiters_give_up_after_max_attempts(client: Any, handler: FakeHandler) -> None:
    client.create_table(TableName="t", KeySchema=KEY_SCHEMA, AttributeDefinitions=DEFINITIONS)
    waiter = client.get_waiter("table_not_exists")
    with pytest.raises(WaiterError) as caught:
        waiter.wait(TableName="t", WaiterConfig={"Delay": 2, "MaxAttempts": 3})
    assert str(caught.value) == "Waiter TableNotExists failed: Max attempts exceeded"
    assert caught.value.last_response is not None
    assert caught.value.last_response["Table"]["TableName"] == "t"
    assert client.sleeps == [2.0, 2.0]


def test_table_not_exists_succeeds_on_not_found(client: Any, handler: FakeHandler) -> None:
    client.get_waiter("table_not_exists").wait(TableName="gone")
    assert client.sleeps == []


def test_an_unexpected_error_fails_the_waiter(client: Client, handler: FakeHandler) -> None:
    handler.script("DescribeTable", errors.ValidationException("bad name"))
    with pytest.raises(WaiterError) as caught:
        client.get_waiter("table_exists").wait(TableName="t")
    assert caught.value.reason == "An error occurred (ValidationException): bad name"


def test_waiter_names_and_arguments_are_checked(client: Client) -> None:
    assert client.waiter_names == ["table_exists", "table_not_exists"]
    with pytest.raises(ValueError, match="Waiter does not exist"):
        client.get_waiter("table_ready")
    with pytest.raises(ParamValidationError, match="TableName"):
        client.get_waiter("table_exists").wait()
    with pytest.raises(ParamValidationError, match="WaiterConfig"):
        client.get_waiter("table_exists").wait(TableName="t", WaiterConfig={"delay": 1})
