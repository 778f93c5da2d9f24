"""UpdateTable (``metadata.update_table``): provisioned throughput and billing mode, DynamoDB's
validation and wording, and what DescribeTable shows afterwards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgpack
import pytest

from raydynamo.api.errors import (
    ClientError,
    ResourceInUseException,
    ResourceNotFoundException,
    SerializationException,
    ValidationException,
)
from raydynamo.metadata.tables import (
    TableCatalog,
    TableDescription,
    TableStatus,
    validate_create_table,
)
from raydynamo.metadata.update_table import (
    NOTHING_TO_UPDATE,
    apply_update,
    update_table_response,
    validate_update_table,
)

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
KEYS = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
}


def table(billing: dict[str, Any]) -> TableDescription:
    spec = validate_create_table({"TableName": "Music", **KEYS, **billing})
    return TableDescription.from_spec(spec, table_id="tid", now=T0).with_status(TableStatus.ACTIVE)


PROVISIONED = {"ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}}
ON_DEMAND = {"BillingMode": "PAY_PER_REQUEST"}


def update(current: TableDescription, now: datetime = T0, **request: Any) -> TableDescription:
    return apply_update(current, validate_update_table({"TableName": "Music", **request}), now=now)


def throughput(description: TableDescription) -> dict[str, Any]:
    return description.to_response()["ProvisionedThroughput"]  # type: ignore[no-any-return]


def test_an_increase_changes_the_units_and_stamps_the_increase() -> None:
    later = T0 + timedelta(hours=1)
    updated = update(
        table(PROVISIONED), later, ProvisionedThroughput={"ReadCapacityUnits": 10,
                                                          "WriteCapacityUnits": 5}
    )  # fmt: skip
    assert throughput(updated) == {
        "LastIncreaseDateTime": later,
        "NumberOfDecreasesToday": 0,
        "ReadCapacityUnits": 10,
        "WriteCapacityUnits": 5,
    }
    assert update_table_response(updated)["TableDescription"]["TableStatus"] == "UPDATING"
    assert updated.table_status is TableStatus.ACTIVE


def test_decreases_are_counted_per_utc_day() -> None:
    current = table({"ProvisionedThroughput": {"ReadCapacityUnits": 50, "WriteCapacityUnits": 50}})
    for units in (40, 30):
        current = update(
            current, T0, ProvisionedThroughput={"ReadCapacityUnits": units,
                                                "WriteCapacityUnits": units}
        )  # fmt: skip
    assert throughput(current)["NumberOfDecreasesToday"] == 2
    next_day = T0 + timedelta(days=1)
    current = update(
        current, next_day, ProvisionedThroughput={"ReadCapacityUnits": 20, "WriteCapacityUnits": 20}
    )
    assert throughput(current)["NumberOfDecreasesToday"] == 1
    assert throughput(current)["LastDecreaseDateTime"] == next_day


def test_switching_billing_modes_both_ways() -> None:
    later = T0 + timedelta(minutes=5)
    on_demand = update(table(PROVISIONED), later, BillingMode="PAY_PER_REQUEST")
    response = on_demand.to_response()
    assert response["BillingModeSummary"] == {
        "BillingMode": "PAY_PER_REQUEST",
        "LastUpdateToPayPerRequestDateTime": later,
    }
    assert (on_demand.read_capacity_units, on_demand.write_capacity_units) == (0, 0)
    back = update(
        on_demand,
        later,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
    )
    assert back.billing_mode == "PROVISIONED" and "BillingModeSummary" not in back.to_response()
    assert (back.read_capacity_units, back.write_capacity_units) == (7, 3)


def test_the_update_survives_the_record_round_trip() -> None:
    updated = update(
        table(PROVISIONED), T0, ProvisionedThroughput={"ReadCapacityUnits": 1,
                                                       "WriteCapacityUnits": 9}
    )  # fmt: skip
    record = msgpack.unpackb(msgpack.packb(updated.to_record()))
    assert TableDescription.from_record(record) == updated


THROUGHPUT_SAME = (
    "The provisioned throughput for the table will not change. The requested value equals the "
    "current value. Current ReadCapacityUnits provisioned for the table: 5. Requested "
    "ReadCapacityUnits: 5. Current WriteCapacityUnits provisioned for the table: 5. Requested "
    "WriteCapacityUnits: 5. Refer to the Amazon DynamoDB Developer Guide for current limits and "
    "how to request higher limits."
)


@pytest.mark.parametrize(
    ("billing", "request_", "error", "message"),
    [
        (PROVISIONED, {}, ValidationException, NOTHING_TO_UPDATE),
        (
            PROVISIONED,
            {"ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}},
            ValidationException,
            THROUGHPUT_SAME,
        ),
        (
            ON_DEMAND,
            {"ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}},
            ValidationException,
            "One or more parameter values were invalid: Neither ReadCapacityUnits nor "
            "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        ),
        (
            ON_DEMAND,
            {"BillingMode": "PROVISIONED"},
            ValidationException,
            "One or more parameter values were invalid: ProvisionedThroughput must be specified "
            "when BillingMode is PROVISIONED",
        ),
        (
            PROVISIONED,
            {"ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 5}},
            ValidationException,
            "1 validation error detected: Value '0' at 'provisionedThroughput.readCapacityUnits' "
            "failed to satisfy constraint: Member must have value greater than or equal to 1",
        ),
        (
            PROVISIONED,
            {"BillingMode": "FREE"},
            ValidationException,
            "1 validation error detected: Value 'FREE' at 'billingMode' failed to satisfy "
            "constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]",
        ),
        (
            PROVISIONED,
            {"GlobalSecondaryIndexUpdates": []},
            ValidationException,
            "One or more parameter values were invalid: secondary indexes are not supported by "
            "raydynamo yet",
        ),
    ],
)
def test_update_table_errors(
    billing: dict[str, Any], request_: dict[str, Any], error: type[ClientError], message: str
) -> None:
    with pytest.raises(error) as caught:
        update(table(billing), **request_)
    assert caught.value.message == message


def test_wrong_types_and_unknown_parameters_are_refused() -> None:
    with pytest.raises(SerializationException):
        validate_update_table({"TableName": "Music", "ProvisionedThroughput": "lots"})
    with pytest.raises(ValidationException, match="Unknown parameter"):
        validate_update_table({"TableName": "Music", "Colour": "red"})


def test_only_an_active_table_is_updated() -> None:
    catalog = TableCatalog()
    spec = validate_create_table({"TableName": "Music", **KEYS, **PROVISIONED})
    catalog.create(spec, table_id="tid", now=T0)
    with pytest.raises(ResourceInUseException, match="being created"):
        catalog.active("Music")
    catalog.mark_active("Music")
    assert catalog.active("Music").table_status is TableStatus.ACTIVE
    catalog.begin_delete("Music")
    with pytest.raises(ResourceInUseException, match="being deleted"):
        catalog.active("Music")
    with pytest.raises(ResourceNotFoundException):
        catalog.active("Other")
