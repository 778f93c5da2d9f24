"""UpdateTable requests: provisioned throughput and billing mode, validated in DynamoDB's order
and wording, applied to a ``TableDescription``.

Order of checks: valid Unicode; the shape (known parameters, member types); ``TableName``;
member constraints reported together (table name, BillingMode enum, capacity units >= 1);
features this service cannot honour yet (secondary index updates, streams, replicas, KMS,
deletion protection, on-demand caps, warm throughput: refused with our wording, as CreateTable
does); that something is asked at all; the table's state (only an ACTIVE table is updated); then
billing against ProvisionedThroughput and the "will not change" rule.

What an update does: new capacity units take effect at once (routers read them with the table's
next map refresh, and admission follows); an increase sets ``LastIncreaseDateTime``, a decrease
``LastDecreaseDateTime`` and counts in ``NumberOfDecreasesToday`` (the count of the UTC day of the
last decrease: it is not reset by the calendar alone, only by the next decrease on another day);
switching to PAY_PER_REQUEST sets ``LastUpdateToPayPerRequestDateTime``. DynamoDB's limits on how
often one may decrease or switch billing modes are not enforced. The response shows the table as
UPDATING, as DynamoDB's does; the stored table stays ACTIVE (the change is already made).

Pure: no ray, no rocksdict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from raydynamo.api.errors import SerializationException, ValidationException
from raydynamo.api.text import refuse_lone_surrogates
from raydynamo.metadata.constraints import (
    Violations,
    check_known_parameters,
    check_type,
    required_parameter_missing,
)
from raydynamo.metadata.create_table import (
    BILLING_MODES,
    TABLE_CLASSES,
    check_capacity_ceiling,
    check_throughput_members,
)
from raydynamo.metadata.tables import TableDescription, TableStatus, _name_from_arn

UPDATE_TABLE_PARAMETERS = (
    "AttributeDefinitions", "TableName", "BillingMode", "ProvisionedThroughput",
    "GlobalSecondaryIndexUpdates", "StreamSpecification", "SSESpecification", "ReplicaUpdates",
    "TableClass", "DeletionProtectionEnabled", "MultiRegionConsistency", "OnDemandThroughput",
    "WarmThroughput", "GlobalTableWitnessUpdates",
)  # fmt: skip
_INVALID = "One or more parameter values were invalid: "
_UNSUPPORTED = {
    "GlobalSecondaryIndexUpdates": "secondary indexes are not supported by raydynamo yet",
    "AttributeDefinitions": "secondary indexes are not supported by raydynamo yet "
    "(AttributeDefinitions in UpdateTable only serve GlobalSecondaryIndexUpdates)",
    "ReplicaUpdates": "global tables are not supported by raydynamo",
    "GlobalTableWitnessUpdates": "global tables are not supported by raydynamo",
    "MultiRegionConsistency": "global tables are not supported by raydynamo",
    "OnDemandThroughput": "OnDemandThroughput is not supported by raydynamo yet",
    "WarmThroughput": "WarmThroughput is not supported by raydynamo yet",
}
NOTHING_TO_UPDATE = (
    # wording unverified (DynamoDB Local and moto answer so)
    "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
    "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required"
)


@dataclass(frozen=True, slots=True)
class UpdateTableSpec:
    table_name: str
    billing_mode: str | None
    read_units: int | None
    write_units: int | None
    table_class: str | None


def validate_update_table(request: Mapping[str, Any]) -> UpdateTableSpec:
    refuse_lone_surrogates(request)
    if not isinstance(request, Mapping):
        raise SerializationException("Start of structure or map found where not expected.")
    check_known_parameters(request, UPDATE_TABLE_PARAMETERS)
    value = request.get("TableName")
    if value is None:
        raise required_parameter_missing("TableName")
    check_type(value, "TableName", str)
    name = _name_from_arn(value)
    violations = Violations()
    violations.table_name(name, "tableName")
    mode = request.get("BillingMode")
    if mode is not None:
        check_type(mode, "BillingMode", str)
        violations.one_of(mode, "billingMode", BILLING_MODES)
    table_class = request.get("TableClass")
    if table_class is not None:
        check_type(table_class, "TableClass", str)
        violations.one_of(table_class, "tableClass", TABLE_CLASSES)
    throughput = request.get("ProvisionedThroughput")
    read_units = write_units = None
    if throughput is not None:
        check_throughput_members(throughput, violations)
        read_units, write_units = (
            throughput.get("ReadCapacityUnits"),
            throughput.get("WriteCapacityUnits"),
        )
    violations.raise_if_any()
    _refuse_unsupported(request)
    if mode is None and throughput is None and table_class is None:
        raise ValidationException(NOTHING_TO_UPDATE)
    if throughput is not None:
        check_capacity_ceiling(throughput)
    return UpdateTableSpec(name, mode, read_units, write_units, table_class)


def _refuse_unsupported(request: Mapping[str, Any]) -> None:
    for parameter, text in _UNSUPPORTED.items():
        if request.get(parameter) is not None:
            raise ValidationException(_INVALID + text)
    stream = request.get("StreamSpecification")
    if isinstance(stream, Mapping) and stream.get("StreamEnabled"):
        raise ValidationException(_INVALID + "DynamoDB Streams are not supported by raydynamo")
    sse = request.get("SSESpecification")
    if isinstance(sse, Mapping) and (sse.get("Enabled") or sse.get("KMSMasterKeyId")):
        raise ValidationException(
            _INVALID + "KMS server-side encryption is not supported by raydynamo"
        )
    if request.get("DeletionProtectionEnabled"):
        raise ValidationException(
            _INVALID + "DeletionProtectionEnabled true is not supported by raydynamo yet"
        )


def apply_update(
    current: TableDescription, spec: UpdateTableSpec, *, now: datetime
) -> TableDescription:
    """The table after ``spec`` (raises DynamoDB's errors for updates it refuses)."""
    mode = spec.billing_mode or current.billing_mode
    updated = current
    if spec.table_class is not None:
        updated = dataclasses.replace(updated, table_class=spec.table_class)
    if mode == "PAY_PER_REQUEST":
        if spec.read_units is not None:
            raise ValidationException(
                _INVALID + "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified "
                "when BillingMode is PAY_PER_REQUEST"
            )
        if current.billing_mode != "PAY_PER_REQUEST":
            updated = dataclasses.replace(
                updated,
                billing_mode="PAY_PER_REQUEST",
                read_capacity_units=0,
                write_capacity_units=0,
                last_update_to_pay_per_request=now,
            )
        return updated
    if spec.read_units is None or spec.write_units is None:
        if current.billing_mode == "PAY_PER_REQUEST":
            raise ValidationException(
                # wording unverified
                _INVALID + "ProvisionedThroughput must be specified when BillingMode is PROVISIONED"
            )
        return updated
    if current.billing_mode == "PROVISIONED" and (spec.read_units, spec.write_units) == (
        current.read_capacity_units,
        current.write_capacity_units,
    ):
        if spec.table_class is not None or spec.billing_mode is not None:
            return updated
        raise ValidationException(_will_not_change(current))
    return _with_units(updated, spec.read_units, spec.write_units, now)


def _will_not_change(current: TableDescription) -> str:
    rcu, wcu = current.read_capacity_units, current.write_capacity_units
    return (
        "The provisioned throughput for the table will not change. The requested value equals "
        f"the current value. Current ReadCapacityUnits provisioned for the table: {rcu}. "
        f"Requested ReadCapacityUnits: {rcu}. Current WriteCapacityUnits provisioned for the "
        f"table: {wcu}. Requested WriteCapacityUnits: {wcu}. Refer to the Amazon DynamoDB "
        "Developer Guide for current limits and how to request higher limits."
    )


def _with_units(
    current: TableDescription, read_units: int, write_units: int, now: datetime
) -> TableDescription:
    was_provisioned = current.billing_mode == "PROVISIONED"
    increased = not was_provisioned or (
        read_units > current.read_capacity_units or write_units > current.write_capacity_units
    )
    decreased = was_provisioned and (
        read_units < current.read_capacity_units or write_units < current.write_capacity_units
    )
    changes: dict[str, Any] = {
        "billing_mode": "PROVISIONED",
        "read_capacity_units": read_units,
        "write_capacity_units": write_units,
    }
    if increased:
        changes["last_increase_date_time"] = now
    if decreased:
        same_day = (
            current.last_decrease_date_time is not None
            and current.last_decrease_date_time.date() == now.date()
        )
        changes["last_decrease_date_time"] = now
        changes["decreases_today"] = (current.decreases_today if same_day else 0) + 1
    return dataclasses.replace(current, **changes)


def update_table_response(description: TableDescription) -> dict[str, Any]:
    shown = description.with_status(TableStatus.UPDATING)
    return {"TableDescription": shown.to_response()}
