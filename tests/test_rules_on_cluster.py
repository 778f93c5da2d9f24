"""The table-driven DynamoDB rules, replayed on a real local cluster.

Every error case of the operation tests (``CASES`` of the write validation tests, the GetItem,
BatchGetItem, Query and Scan error tables), written against in-process fakes, is sent here
through the request handler the driver embeds (the router), to the real service on Ray: the
answer must be the same error code and message.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from raydynamo.api.errors import ClientError
from tests.test_op_query import QUERY_ERRORS
from tests.test_op_reads import BATCH_ERRORS, GET_ERRORS
from tests.test_op_scan import SCAN_ERRORS
from tests.test_op_writes_validation import CASES as WRITE_CASES

pytestmark = pytest.mark.ray

TABLES = {  # the fakes' tables, with the same key schemas
    "hash": [("pk", "S")],
    "range": [("pk", "S"), ("sk", "N")],
    "hashN": [("pk", "N")],
    "composite": [("pk", "S"), ("sk", "S")],
    "numbers": [("pk", "S"), ("sk", "N")],
    "binary": [("pk", "B"), ("sk", "B")],
}

REPLAYED: list[tuple[str, str, dict[str, Any], str, str]] = [
    (name, operation, request, error.code, message)
    for name, operation, request, error, message in WRITE_CASES
]
for operation, table in (
    ("GetItem", GET_ERRORS),
    ("BatchGetItem", BATCH_ERRORS),
    ("Query", QUERY_ERRORS),
    ("Scan", SCAN_ERRORS),
):
    REPLAYED += [
        (name, operation, request, code, message) for name, request, code, message in table
    ]


@pytest.fixture(scope="module")
def router(client: Any, service: Any) -> Any:
    from raydynamo.actors.router import Router

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
    return Router(service)


@pytest.mark.parametrize(
    ("operation", "request_", "code", "message"),
    [case[1:] for case in REPLAYED],
    ids=[f"{case[1]}: {case[0]}" for case in REPLAYED],
)
def test_rule_holds_on_the_cluster(
    router: Any, operation: str, request_: dict[str, Any], code: str, message: str
) -> None:
    with pytest.raises(ClientError) as caught:
        asyncio.run(router.call(operation, request_))
    assert (caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]) == (
        code,
        message,
    )
