"""Real DynamoDB clients, unchanged, against the endpoint in front of the live service.

boto3's client and resource layers (paginators, waiters, batch_writer, conditions), the boto3
example program, the AWS CLI and pynamodb, all over HTTP to the session's endpoint. The only
thing changed in any of them is the endpoint URL (and, to keep the suite quick, the waiters'
polling delay, through botocore's own data path; see ``endpoint_support.fast_waiter_session``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.endpoint_support import (
    ACCESS_KEY_ID,
    SECRET_ACCESS_KEY,
    boto3_client,
    fast_waiter_session,
    raw_request,
)

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parent.parent
KEY_SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
ATTRIBUTES = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "N"},
]


def client_for(url: str) -> Any:
    return fast_waiter_session().client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )


def new_table(client: Any, prefix: str = "t") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    client.create_table(
        TableName=name,
        KeySchema=KEY_SCHEMA,
        AttributeDefinitions=ATTRIBUTES,
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name)
    return name


@pytest.fixture(scope="module")
def client(endpoint: str) -> Any:
    return client_for(endpoint)


@pytest.fixture(scope="module")
def table(client: Any) -> str:
    return new_table(client)


def test_the_boto3_example_program_runs_unchanged_over_http(client: Any) -> None:
    sys.path.insert(0, str(ROOT / "examples"))
    from boto3_program import run

    seen = run(client, table=f"Music-{uuid.uuid4().hex[:6]}")
    assert seen["get"]["Year"] == {"N": "2003"}
    assert seen["updated"] == {"Plays": {"N": "1"}}
    assert seen["conditional"] == "ConditionalCheckFailedException"
    assert seen["query"] == [f"Song {i}" for i in (4, 3, 2, 1, 0)]
    assert seen["scan_count"] == 7
    assert seen["batch_get"] == 1
    assert seen["missing"] == "ResourceNotFoundException"


def test_client_layer_items_types_and_table_description(client: Any, table: str) -> None:
    item = {
        "pk": {"S": "types"},
        "sk": {"N": "1"},
        "n": {"N": "12345678901234567890123456789012345678"},
        "b": {"B": b"\x00\x01binary"},
        "bs": {"BS": [b"x", b"y"]},
        "ss": {"SS": ["a", "b"]},
        "m": {"M": {"l": {"L": [{"BOOL": True}, {"NULL": True}, {"N": "-1.5E-100"}]}}},
    }
    client.put_item(TableName=table, Item=item)
    got = client.get_item(
        TableName=table, Key={"pk": item["pk"], "sk": item["sk"]}, ConsistentRead=True
    )
    stored = got["Item"]
    assert stored["n"] == item["n"] and stored["b"] == item["b"]
    assert sorted(stored["bs"]["BS"]) == [b"x", b"y"]
    assert Decimal(stored["m"]["M"]["l"]["L"][2]["N"]) == Decimal("-1.5E-100")
    assert got["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/x-amz-json-1.0"
    described = client.describe_table(TableName=table)["Table"]
    assert described["TableStatus"] == "ACTIVE"
    assert isinstance(described["CreationDateTime"], datetime)
    assert table in client.list_tables()["TableNames"]


def test_client_layer_updates_and_conditions(client: Any, table: str) -> None:
    key = {"pk": {"S": "counter"}, "sk": {"N": "1"}}
    for _ in range(3):
        client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="ADD hits :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
    with pytest.raises(client.exceptions.ConditionalCheckFailedException) as caught:
        client.delete_item(
            TableName=table,
            Key=key,
            ConditionExpression="hits < :two",
            ExpressionAttributeValues={":two": {"N": "2"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert caught.value.response["Item"]["hits"] == {"N": "3"}
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_item(TableName="no-such-table", Key=key)


def test_paginators_page_through_queries_scans_and_tables(client: Any, table: str) -> None:
    client.batch_write_item(
        RequestItems={
            table: [
                {"PutRequest": {"Item": {"pk": {"S": "paged"}, "sk": {"N": str(i)}}}}
                for i in range(7)
            ]
        }
    )
    pages = list(
        client.get_paginator("query").paginate(
            TableName=table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "paged"}},
            ConsistentRead=True,
            PaginationConfig={"PageSize": 2},
        )
    )
    assert [int(i["sk"]["N"]) for page in pages for i in page["Items"]] == list(range(7))
    assert len(pages) >= 4
    scanned = client.get_paginator("scan").paginate(
        TableName=table, PaginationConfig={"PageSize": 3}
    )
    assert sum(page["Count"] for page in scanned) >= 7
    names = client.get_paginator("list_tables").paginate(PaginationConfig={"PageSize": 1})
    assert table in [name for page in names for name in page["TableNames"]]


def test_resource_layer_batch_writer_and_conditions(endpoint: str) -> None:
    from boto3.dynamodb.conditions import Attr, Key

    resource = fast_waiter_session().resource(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    name = f"res-{uuid.uuid4().hex[:8]}"
    table = resource.create_table(
        TableName=name,
        KeySchema=KEY_SCHEMA,
        AttributeDefinitions=ATTRIBUTES,
        BillingMode="PAY_PER_REQUEST",
    )
    table.wait_until_exists()
    with table.batch_writer() as batch:
        for i in range(60):
            batch.put_item(Item={"pk": f"user-{i % 3}", "sk": Decimal(i), "even": i % 2 == 0})
    table.put_item(Item={"pk": "x", "sk": Decimal("1.25"), "tags": {"a", "b"}, "raw": b"\x00"})
    got = table.get_item(Key={"pk": "x", "sk": Decimal("1.25")}, ConsistentRead=True)["Item"]
    assert got["tags"] == {"a", "b"} and got["raw"].value == b"\x00"
    found = table.query(
        KeyConditionExpression=Key("pk").eq("user-1") & Key("sk").between(10, 30),
        FilterExpression=Attr("even").eq(True),
        ConsistentRead=True,
    )["Items"]
    assert [int(i["sk"]) for i in found] == [10, 16, 22, 28]
    assert table.scan(Select="COUNT")["Count"] == 61
    table.delete()
    table.wait_until_not_exists()


def test_bad_input_from_the_service_side_is_refused_over_http(endpoint: str, table: str) -> None:
    value: dict[str, Any] = {"S": "deep"}
    for _ in range(40):
        value = {"M": {"a": value}}
    document = {"TableName": table, "Item": {"pk": {"S": "d"}, "sk": {"N": "1"}, "v": value}}
    answer = raw_request(endpoint, json.dumps(document).encode())
    assert answer.status == 400
    assert answer.json()["__type"] == "com.amazon.coral.validate#ValidationException"
    assert "Nesting Levels have exceeded supported limits" in answer.message


def aws_cli(endpoint: str, *args: str) -> Any:
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    command = [sys.executable, "-m", "awscli", "dynamodb", *args, "--endpoint-url", endpoint]
    done = subprocess.run(
        [*command, "--output", "json"], env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_the_aws_cli_creates_puts_gets_and_scans(endpoint: str, client: Any) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    created = aws_cli(
        endpoint,
        "create-table",
        "--table-name",
        name,
        "--attribute-definitions",
        "AttributeName=pk,AttributeType=S",
        "--key-schema",
        "AttributeName=pk,KeyType=HASH",
        "--billing-mode",
        "PAY_PER_REQUEST",
    )
    assert created["TableDescription"]["TableName"] == name
    client.get_waiter("table_exists").wait(TableName=name)
    item = {"pk": {"S": "cli"}, "n": {"N": "42"}, "l": {"L": [{"S": "x"}, {"BOOL": True}]}}
    aws_cli(endpoint, "put-item", "--table-name", name, "--item", json.dumps(item))
    got = aws_cli(
        endpoint,
        "get-item",
        "--table-name",
        name,
        "--key",
        json.dumps({"pk": {"S": "cli"}}),
        "--consistent-read",
    )
    assert got["Item"] == item
    scanned = aws_cli(endpoint, "scan", "--table-name", name)
    assert scanned["Count"] == 1 and scanned["Items"] == [item]


def test_pynamodb_models_save_get_and_query(endpoint: str) -> None:
    from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute
    from pynamodb.exceptions import PutError
    from pynamodb.models import Model

    class Song(Model):
        class Meta:
            table_name = f"pyn-{uuid.uuid4().hex[:8]}"
            host = endpoint
            region = "us-east-1"
            aws_access_key_id = ACCESS_KEY_ID
            aws_secret_access_key = SECRET_ACCESS_KEY
            billing_mode = "PAY_PER_REQUEST"

        artist = UnicodeAttribute(hash_key=True)
        title = UnicodeAttribute(range_key=True)
        year = NumberAttribute(null=True)
        cover = BinaryAttribute(null=True, legacy_encoding=False)

    Song.create_table(wait=True)
    for i in range(4):
        Song("Acme", f"Song {i}", year=2000 + i, cover=bytes([i])).save()
    got = Song.get("Acme", "Song 2", consistent_read=True)
    assert (got.year, got.cover) == (2002, b"\x02")
    titles = [
        s.title for s in Song.query("Acme", Song.title.startswith("Song"), consistent_read=True)
    ]
    assert titles == [f"Song {i}" for i in range(4)]
    with pytest.raises(PutError) as refused:
        Song("Acme", "Song 1").save(condition=Song.artist.does_not_exist())
    assert refused.value.cause_response_code == "ConditionalCheckFailedException"
    Song.delete_table()


def test_a_plain_boto3_client_without_waiters_works(endpoint: str) -> None:
    plain = boto3_client(endpoint)
    assert "TableNames" in plain.list_tables()


def test_sdk_retries_of_one_operation_are_applied_once(
    endpoint: str, client: Any, table: str
) -> None:
    key = {"pk": {"S": "retried"}, "sk": {"N": "1"}}
    body = json.dumps(
        {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    ).encode()
    attempts = {"amz-sdk-invocation-id": str(uuid.uuid4())}
    for _ in range(3):  # what botocore sends when an attempt times out: the same invocation id
        assert raw_request(endpoint, body, operation="UpdateItem", headers=attempts).status == 200
    another = {"amz-sdk-invocation-id": str(uuid.uuid4())}
    assert raw_request(endpoint, body, operation="UpdateItem", headers=another).status == 200
    got = client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert got["n"] == {"N": "2"}
