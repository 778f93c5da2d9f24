"""The table catalog: DynamoDB's lifecycle answers (exact wording), account limits, stats, and
records that survive a controller restart."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from raydynamo.api.errors import (
    LimitExceededException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from raydynamo.metadata.tables import (
    InvalidTransition,
    ListTablesRequest,
    TableCatalog,
    TableStatus,
    delete_table_response,
    describe_table_response,
    validate_create_table,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
PPR: dict[str, Any] = {
    "TableName": "Music",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}


def request(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def test_lifecycle_and_dynamodb_answers() -> None:
    catalog = TableCatalog()
    spec = validate_create_table(PPR)
    created = catalog.create(spec, table_id="t1", now=NOW)
    assert created.table_status is TableStatus.CREATING
    with pytest.raises(ResourceInUseException) as info:
        catalog.create(spec, table_id="t2", now=NOW)
    assert info.value.message == (
        "Attempt to change a resource which is still in use: Table is being created: Music"
    )
    with pytest.raises(ResourceInUseException) as info:
        catalog.begin_delete("Music")
    assert info.value.message == (
        "Attempt to change a resource which is still in use: Table is being created: Music"
    )
    assert catalog.mark_active("Music").table_status is TableStatus.ACTIVE
    assert catalog.mark_active("Music").table_status is TableStatus.ACTIVE  # idempotent
    with pytest.raises(ResourceInUseException) as info:
        catalog.create(spec, table_id="t2", now=NOW)
    assert info.value.message == "Table already exists: Music"
    deleting = catalog.begin_delete("Music")
    assert delete_table_response(deleting)["TableDescription"]["TableStatus"] == "DELETING"
    with pytest.raises(ResourceInUseException) as info:
        catalog.begin_delete("Music")
    assert info.value.message == (
        "Attempt to change a resource which is still in use: Table is being deleted: Music"
    )
    with pytest.raises(ResourceInUseException) as info:
        catalog.create(spec, table_id="t2", now=NOW)
    assert info.value.message == "Table already exists: Music"
    assert catalog.list_tables(ListTablesRequest()) == {"TableNames": ["Music"]}
    catalog.remove("Music")
    for action in (catalog.describe, catalog.begin_delete):
        with pytest.raises(ResourceNotFoundException) as info:
            action("Music")
        assert info.value.message == "Requested resource not found: Table: Music not found"
    again = catalog.create(spec, table_id="t3", now=NOW)
    assert (again.table_id, again.table_arn) == ("t3", created.table_arn)


def test_invalid_transitions_are_refused() -> None:
    catalog = TableCatalog()
    catalog.create(validate_create_table(PPR), table_id="t1", now=NOW)
    catalog.mark_active("Music")
    with pytest.raises(InvalidTransition):
        catalog.remove("Music")
    catalog.begin_delete("Music")
    with pytest.raises(InvalidTransition):
        catalog.mark_active("Music")
    with pytest.raises(InvalidTransition):
        catalog.mark_active("Other")
    catalog.create(
        validate_create_table(request(PPR, TableName="Rollback")), table_id="t2", now=NOW
    )
    assert catalog.remove("Rollback").table_status is TableStatus.CREATING
    assert "Rollback" not in catalog


def test_table_count_limit() -> None:
    catalog = TableCatalog(tables_max=3)
    for index in range(3):
        catalog.create(
            validate_create_table(request(PPR, TableName=f"t{index}xx")),
            table_id=str(index),
            now=NOW,
        )
        catalog.mark_active(f"t{index}xx")
    with pytest.raises(LimitExceededException) as info:
        catalog.create(validate_create_table(PPR), table_id="x", now=NOW)
    assert (
        info.value.message
        == "Subscriber limit exceeded: There is a limit of 3 tables per subscriber"
    )
    catalog.begin_delete("t0xx")
    with pytest.raises(LimitExceededException):  # a DELETING table still counts
        catalog.create(validate_create_table(PPR), table_id="x", now=NOW)
    catalog.remove("t0xx")
    catalog.create(validate_create_table(PPR), table_id="x", now=NOW)


def test_concurrent_table_operations_limit() -> None:
    catalog = TableCatalog(table_operations_max=2)
    catalog.create(validate_create_table(request(PPR, TableName="one")), table_id="1", now=NOW)
    catalog.create(validate_create_table(request(PPR, TableName="two")), table_id="2", now=NOW)
    with pytest.raises(LimitExceededException) as info:
        catalog.create(
            validate_create_table(request(PPR, TableName="three")), table_id="3", now=NOW
        )
    assert info.value.message == (
        "Subscriber limit exceeded: Only 2 tables can be created, updated, or deleted "
        "simultaneously"
    )
    catalog.mark_active("one")
    catalog.create(validate_create_table(request(PPR, TableName="three")), table_id="3", now=NOW)
    with pytest.raises(LimitExceededException):
        catalog.begin_delete("one")


def test_stats_and_records_survive_a_restart() -> None:
    catalog = TableCatalog()
    for name in ("b-table", "a-table"):
        catalog.create(validate_create_table(request(PPR, TableName=name)), table_id=name, now=NOW)
    catalog.mark_active("a-table")
    catalog.set_stats("a-table", item_count=3, table_size_bytes=300)
    described = describe_table_response(catalog.describe("a-table"))["Table"]
    assert (described["ItemCount"], described["TableSizeBytes"]) == (3, 300)
    with pytest.raises(ResourceNotFoundException):
        catalog.set_stats("absent", item_count=0, table_size_bytes=0)
    restored = TableCatalog.from_records(json.loads(json.dumps(catalog.to_records())))
    assert restored.descriptions() == catalog.descriptions()
    assert restored.names() == ["a-table", "b-table"]
