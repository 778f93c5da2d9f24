"""The table-driven (170 today) DynamoDB error rules, replayed over HTTP through the endpoint.

The same cases ``test_rules_on_cluster`` sends to the router in-process, sent here as JSON
requests (binary values base64, as on the wire) to the endpoint in front of the live service:
the answer must carry the same error code and message.

Six cases describe Python values that JSON cannot carry as such; over the wire DynamoDB's front
end decides them, so their expectation is the wire's (``WIRE_OUTCOMES``): a number or a string
where a string or a boolean belongs is DynamoDB's ``SerializationException`` in the front end's
words, and a member the operation does not have is dropped, as DynamoDB drops it, so the request
is served.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.endpoint_support import raw_request
from tests.test_rules_on_cluster import REPLAYED, TABLES

pytestmark = pytest.mark.ray

SERVED = ("", "")
WIRE_OUTCOMES: dict[str, tuple[str, str]] = {
    "table name not a string": (
        "SerializationException",
        "class java.lang.Short can not be converted to an String",
    ),
    "an attribute value of the wrong Python type": (
        "SerializationException",
        "class java.lang.Short can not be converted to an String",
    ),
    "ConsistentRead not a boolean": (
        "SerializationException",
        "'YES' can not be converted to an Boolean",
    ),
    "Limit not an integer": (
        "SerializationException",
        "class java.lang.String can not be converted to an Integer",
    ),
    "unknown parameter": SERVED,
    "unknown KeysAndAttributes member": SERVED,
}


def wire_json(value: object) -> object:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} has no JSON form")


@pytest.fixture(scope="module")
def tables(client: Any, endpoint: str) -> str:
    existing = set(client.list_tables()["TableNames"])
    for name, key in TABLES.items():
        if name in existing:
            continue
        client.create_table(
            TableName=name,
            KeySchema=[
                {"AttributeName": attr, "KeyType": kind}
                for (attr, _), kind in zip(key, ("HASH", "RANGE"), strict=False)
            ],
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": t} for a, t in key],
            BillingMode="PAY_PER_REQUEST",
        )
    for name in TABLES:
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})
    return endpoint


def test_every_wire_outcome_names_a_replayed_case() -> None:
    names = {case[0] for case in REPLAYED}
    assert set(WIRE_OUTCOMES) <= names
    assert len(REPLAYED) >= 170


@pytest.mark.parametrize(
    ("name", "operation", "request_", "code", "message"),
    REPLAYED,
    ids=[f"{case[1]}: {case[0]}" for case in REPLAYED],
)
def test_rule_holds_over_http(
    tables: str, name: str, operation: str, request_: dict[str, Any], code: str, message: str
) -> None:
    code, message = WIRE_OUTCOMES.get(name, (code, message))
    body = json.dumps(request_, default=wire_json).encode()
    answer = raw_request(tables, body, operation=operation)
    if (code, message) == SERVED:
        assert answer.status == 200, answer.body
        return
    assert answer.status == 400, answer.body
    assert (answer.code, answer.message) == (code, message)
