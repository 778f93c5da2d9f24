"""A program written for boto3's DynamoDB client, unchanged but for the line making the client.

Run it against raydynamo::

    python examples/boto3_program.py

With boto3 it would start ``client = boto3.client("dynamodb")``; here the only change is
``client = raydynamo.connect()``. The test suite runs ``run(client)`` against a live service.
"""

from __future__ import annotations

from typing import Any


def run(client: Any, table: str = "Music") -> dict[str, Any]:
    """Exercise the DynamoDB calls the driver supports; return what it observed."""
    client.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "Artist", "KeyType": "HASH"},
            {"AttributeName": "SongTitle", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "Artist", "AttributeType": "S"},
            {"AttributeName": "SongTitle", "AttributeType": "S"},
        ],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
    )
    client.get_waiter("table_exists").wait(TableName=table)
    seen: dict[str, Any] = {"tables": client.list_tables()["TableNames"]}

    songs = [("No One You Know", "Call Me Today", 2019), ("No One You Know", "Scared", 2020)]
    songs += [("Acme Band", f"Song {i}", 2000 + i) for i in range(5)]
    for artist, title, year in songs:
        client.put_item(
            TableName=table,
            Item={"Artist": {"S": artist}, "SongTitle": {"S": title}, "Year": {"N": str(year)}},
        )
    key = {"Artist": {"S": "Acme Band"}, "SongTitle": {"S": "Song 3"}}
    seen["get"] = client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    updated = client.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET Plays = if_not_exists(Plays, :zero) + :one",
        ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}},
        ReturnValues="UPDATED_NEW",
    )
    seen["updated"] = updated["Attributes"]
    try:
        client.put_item(
            TableName=table,
            Item={"Artist": {"S": "Acme Band"}, "SongTitle": {"S": "Song 3"}},
            ConditionExpression="attribute_not_exists(Artist)",
        )
        seen["conditional"] = "written"
    except client.exceptions.ConditionalCheckFailedException as err:
        seen["conditional"] = err.response["Error"]["Code"]
    pages = client.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="Artist = :a AND begins_with(SongTitle, :p)",
        ExpressionAttributeValues={":a": {"S": "Acme Band"}, ":p": {"S": "Song"}},
        ScanIndexForward=False,
        PaginationConfig={"PageSize": 2},
    )
    seen["query"] = [item["SongTitle"]["S"] for page in pages for item in page["Items"]]
    seen["scan_count"] = client.scan(TableName=table, Select="COUNT")["Count"]
    client.batch_write_item(
        RequestItems={
            table: [
                {"DeleteRequest": {"Key": {"Artist": {"S": "Acme Band"}, "SongTitle": {"S": t}}}}
                for t in ("Song 0", "Song 1")
            ]
        }
    )
    batch = client.batch_get_item(
        RequestItems={
            table: {"Keys": [key, {"Artist": {"S": "Acme Band"}, "SongTitle": {"S": "Song 0"}}]}
        }
    )
    seen["batch_get"] = len(batch["Responses"][table])
    client.delete_item(TableName=table, Key=key)
    try:
        client.describe_table(TableName="NoSuchTable")
    except client.exceptions.ResourceNotFoundException as err:
        seen["missing"] = err.response["Error"]["Code"]
    client.delete_table(TableName=table)
    client.get_waiter("table_not_exists").wait(TableName=table)
    return seen


if __name__ == "__main__":
    import raydynamo

    print(run(raydynamo.connect()))
