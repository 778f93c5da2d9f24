"""The resource layer (``client.Table``) and ``batch_writer`` against the fake handler."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from raydynamo.api import errors
from raydynamo.api.python_types import FLOAT_REFUSED
from raydynamo.driver import Attr, Client, Key
from tests.test_driver_fakes import FakeHandler

KEY_SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
DEFINITIONS = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "N"},
]


@pytest.fixture
def handler() -> FakeHandler:
    return FakeHandler()


@pytest.fixture
def client(handler: FakeHandler) -> Iterator[Any]:
    sleeps: list[float] = []
    client = Client(handler, sleep=sleeps.append)
    client.sleeps = sleeps  # type: ignore[attr-defined]
    client.create_table(TableName="t", KeySchema=KEY_SCHEMA, AttributeDefinitions=DEFINITIONS)
    handler.calls.clear()
    yield client
    client.close()


def test_values_round_trip_as_python_types(client: Client) -> None:
    table = client.Table("t")
    item = {
        "pk": "a",
        "sk": 1,
        "price": Decimal("12.50"),
        "big": 10**30,
        "blob": b"\x00\xff",
        "buffer": bytearray(b"ab"),
        "flag": True,
        "nothing": None,
        "names": {"x", "y"},
        "numbers": {Decimal("1.5"), 2},
        "blobs": {b"a", b"b"},
        "nested": {"list": [1, "two", {"three": Decimal("3")}], "empty": {}},
    }
    table.put_item(Item=item)
    got = table.get_item(Key={"pk": "a", "sk": 1})["Item"]
    assert got == {
        **item,
        "sk": Decimal(1),
        "price": Decimal("12.5"),
        "big": Decimal(10**30),
        "buffer": b"ab",
        "numbers": {Decimal("1.5"), Decimal(2)},
        "nested": {"list": [Decimal(1), "two", {"three": Decimal(3)}], "empty": {}},
    }
    assert isinstance(got["blob"], bytes) and isinstance(got["names"], set)


def test_requests_are_serialized_with_the_table_name(client: Client, handler: FakeHandler) -> None:
    table = client.Table("t")
    table.put_item(Item={"pk": "a", "sk": 1, "tags": {"x"}}, ReturnValues="ALL_OLD")
    assert handler.last("PutItem") == {
        "TableName": "t",
        "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}, "tags": {"SS": ["x"]}},
        "ReturnValues": "ALL_OLD",
    }


@pytest.mark.parametrize(
    "call",
    [
        lambda t: t.put_item(Item={"pk": "a", "sk": 1, "f": 1.5}),
        lambda t: t.put_item(Item={"pk": "a", "sk": 1, "deep": {"l": [1, 2.0]}}),
        lambda t: t.get_item(Key={"pk": "a", "sk": 1.0}),
        lambda t: t.update_item(
            Key={"pk": "a", "sk": 1},
            UpdateExpression="SET v = :v",
            ExpressionAttributeValues={":v": 0.1},
        ),
        lambda t: t.scan(FilterExpression=Attr("v").gt(0.5)),
        lambda t: t.query(KeyConditionExpression=Key("pk").eq("a") & Key("sk").lt(2.5)),
    ],
)
def test_floats_are_refused_before_sending(client: Client, handler: FakeHandler, call: Any) -> None:
    with pytest.raises(TypeError) as caught:
        call(client.Table("t"))
    assert (
        str(caught.value)
        == FLOAT_REFUSED
        == ("Float types are not supported. Use Decimal types instead.")
    )
    assert handler.calls == []


def test_other_unsupported_values_are_type_errors(client: Client) -> None:
    with pytest.raises(TypeError, match="Unsupported type"):
        client.Table("t").put_item(Item={"pk": "a", "sk": 1, "x": object()})
    with pytest.raises(TypeError, match="Infinity and NaN"):
        client.Table("t").put_item(Item={"pk": "a", "sk": Decimal("NaN")})


def test_table_methods_are_keyword_only_and_own_the_table_name(client: Client) -> None:
    table = client.Table("t")
    with pytest.raises(TypeError, match=r"put_item\(\) only accepts keyword arguments"):
        table.put_item({"pk": "a"})
    with pytest.raises(TypeError, match="TableName"):
        table.get_item(TableName="other", Key={"pk": "a", "sk": 1})


def test_condition_objects_merge_with_user_placeholders(
    client: Client, handler: FakeHandler
) -> None:
    table = client.Table("t")
    table.put_item(Item={"pk": "a", "sk": 1, "n": 1})
    response = table.update_item(
        Key={"pk": "a", "sk": 1},
        UpdateExpression="SET #n0 = #n0 + :v0",
        ConditionExpression=Attr("n").lt(5) & Attr("pk").exists(),
        ExpressionAttributeNames={"#n0": "n"},
        ExpressionAttributeValues={":v0": 1},
        ReturnValues="ALL_NEW",
    )
    assert response["Attributes"] == {"pk": "a", "sk": Decimal(1), "n": Decimal(2)}
    sent = handler.last("UpdateItem")
    # The user's own #n0 is never reused for a generated name, even one naming the same attribute.
    assert sent["ConditionExpression"] == "(#n1 < :v1 AND attribute_exists(#n2))"
    assert sent["ExpressionAttributeNames"] == {"#n0": "n", "#n1": "n", "#n2": "pk"}
    assert sent["ExpressionAttributeValues"] == {":v0": {"N": "1"}, ":v1": {"N": "5"}}


def test_a_failed_condition_raises_the_client_exception(client: Client) -> None:
    table = client.Table("t")
    table.put_item(Item={"pk": "a", "sk": 1})
    with pytest.raises(client.exceptions.ConditionalCheckFailedException) as caught:
        table.put_item(Item={"pk": "a", "sk": 1}, ConditionExpression=Attr("pk").not_exists())
    assert caught.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        table.delete_item(Key={"pk": "a", "sk": 1}, ConditionExpression=Attr("x").eq(1))
    assert table.delete_item(Key={"pk": "a", "sk": 1}, ReturnValues="ALL_OLD")["Attributes"] == {
        "pk": "a",
        "sk": Decimal(1),
    }


def test_query_pages_with_python_keys(client: Client, handler: FakeHandler) -> None:
    table = client.Table("t")
    for sk in range(10):
        table.put_item(Item={"pk": "a", "sk": sk, "even": sk % 2 == 0})
    table.put_item(Item={"pk": "b", "sk": 0})
    condition = Key("pk").eq("a") & Key("sk").between(2, 8)
    seen: list[Decimal] = []
    start: dict[str, Any] | None = None
    while True:
        extra = {"ExclusiveStartKey": start} if start else {}
        page = table.query(
            KeyConditionExpression=condition,
            FilterExpression=Attr("even").eq(True),
            ScanIndexForward=False,
            Limit=3,
            **extra,
        )
        seen += [item["sk"] for item in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
        assert start == {"pk": "a", "sk": start["sk"]} and isinstance(start["sk"], Decimal)
    assert seen == [8, 6, 4, 2]
    sent = handler.last("Query")
    assert sent["KeyConditionExpression"] == "(#n0 = :v0 AND #n1 BETWEEN :v1 AND :v2)"
    assert sent["FilterExpression"] == "#n2 = :v3"
    assert sent["ExclusiveStartKey"]["pk"] == {"S": "a"}


def test_scan_deserializes_items(client: Client) -> None:
    table = client.Table("t")
    table.put_item(Item={"pk": "a", "sk": 1, "s": {"x"}})
    page = table.scan(FilterExpression=Attr("s").contains("x"))
    assert page["Items"] == [{"pk": "a", "sk": Decimal(1), "s": {"x"}}]
    assert page["Count"] == 1 and "ResponseMetadata" in page


def test_legacy_parameters_are_serialized(client: Client, handler: FakeHandler) -> None:
    table = client.Table("t")
    handler.script("PutItem", {})
    table.put_item(
        Item={"pk": "a", "sk": 1},
        Expected={"n": {"Value": 1, "Exists": True}, "m": {"AttributeValueList": ["x"]}},
    )
    assert handler.last("PutItem")["Expected"] == {
        "n": {"Value": {"N": "1"}, "Exists": True},
        "m": {"AttributeValueList": [{"S": "x"}]},
    }
    handler.script("UpdateItem", {})
    table.update_item(Key={"pk": "a", "sk": 1}, AttributeUpdates={"n": {"Value": 2}})
    assert handler.last("UpdateItem")["AttributeUpdates"] == {"n": {"Value": {"N": "2"}}}
    handler.script("Query", {"Items": []})
    table.query(KeyConditions={"pk": {"AttributeValueList": ["a"], "ComparisonOperator": "EQ"}})
    assert handler.last("Query")["KeyConditions"]["pk"]["AttributeValueList"] == [{"S": "a"}]


def test_description_attributes_load_once_and_reload(client: Client, handler: FakeHandler) -> None:
    table = client.Table("t")
    assert handler.calls == []  # making a Table sends nothing
    assert table.table_name == table.name == "t"
    assert table.key_schema == KEY_SCHEMA
    assert table.attribute_definitions == DEFINITIONS
    assert table.table_status == "ACTIVE"
    assert handler.operations() == ["DescribeTable"]
    table.put_item(Item={"pk": "a", "sk": 1})
    assert table.item_count == 0  # cached
    table.reload()
    assert table.item_count == 1
    assert client.Table("t") == table and hash(client.Table("t")) == hash(table)


def test_table_waiters_and_delete(client: Any, handler: FakeHandler) -> None:
    table = client.Table("t")
    table.wait_until_exists()
    table.delete()
    table.wait_until_not_exists()
    assert "t" not in handler.tables
    assert client.sleeps == []


# ---------------------------------------------------------------- batch_writer


def _batch_sizes(handler: FakeHandler) -> list[int]:
    return [len(r["RequestItems"]["t"]) for op, r in handler.calls if op == "BatchWriteItem"]


def test_batch_writer_flushes_every_25_and_on_exit(client: Client, handler: FakeHandler) -> None:
    table = client.Table("t")
    with table.batch_writer() as batch:
        for i in range(60):
            batch.put_item(Item={"pk": "a", "sk": i})
        assert _batch_sizes(handler) == [25, 25]
        batch.delete_item(Key={"pk": "a", "sk": 0})
    assert _batch_sizes(handler) == [25, 25, 11]
    assert len(handler.tables["t"].items) == 59
    first = handler.last("BatchWriteItem")["RequestItems"]["t"][0]
    assert first == {"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"N": "50"}}}}


def test_batch_writer_resends_unprocessed_items(client: Any, handler: FakeHandler) -> None:
    handler.unprocessed = [5, 2]  # first call leaves 5, second leaves 2
    with client.Table("t").batch_writer() as batch:
        for i in range(30):
            batch.put_item({"pk": "a", "sk": i})  # boto3 also takes Item positionally
    assert _batch_sizes(handler) == [25, 10, 2]
    assert len(handler.tables["t"].items) == 30
    assert len(client.sleeps) == 2  # a backoff before each flush that follows unprocessed items


def test_batch_writer_gives_up_when_nothing_is_processed(handler: FakeHandler) -> None:
    sleeps: list[float] = []
    with Client(handler, attempts_max=3, sleep=sleeps.append) as client:
        client.create_table(TableName="t", KeySchema=KEY_SCHEMA, AttributeDefinitions=DEFINITIONS)
        handler.unprocessed = [1] * 10
        writer = client.Table("t").batch_writer()
        writer.put_item(Item={"pk": "a", "sk": 1})
        with pytest.raises(client.exceptions.ProvisionedThroughputExceededException) as caught:
            writer.flush()
    assert caught.value.operation_name == "BatchWriteItem"
    assert _batch_sizes(handler) == [1, 1, 1]
    assert len(writer._core.buffer) == 1  # the request stays buffered


def test_batch_writer_overwrite_by_pkeys(client: Client, handler: FakeHandler) -> None:
    with client.Table("t").batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
        batch.put_item(Item={"pk": "a", "sk": 1, "v": 1})
        batch.put_item(Item={"pk": "a", "sk": 2, "v": 1})
        batch.put_item(Item={"pk": "a", "sk": 1, "v": 2})
        batch.delete_item(Key={"pk": "a", "sk": 2})
    sent = handler.last("BatchWriteItem")["RequestItems"]["t"]
    assert sent == [
        {"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"N": "2"}}}},
        {"DeleteRequest": {"Key": {"pk": {"S": "a"}, "sk": {"N": "2"}}}},
    ]


def test_batch_writer_refuses_floats_when_added(client: Client, handler: FakeHandler) -> None:
    with client.Table("t").batch_writer() as batch, pytest.raises(TypeError, match="Float"):
        batch.put_item(Item={"pk": "a", "sk": 1.5})
    assert handler.calls == []


def test_batch_writer_errors_surface(client: Client, handler: FakeHandler) -> None:
    handler.script("BatchWriteItem", errors.ValidationException("Too many items"))
    with pytest.raises(client.exceptions.ValidationException):  # noqa: SIM117
        with client.Table("t").batch_writer(flush_items_max=2) as batch:
            batch.put_item(Item={"pk": "a", "sk": 1})
            batch.put_item(Item={"pk": "a", "sk": 2})
