"""Tables as the controller keeps them: descriptions, DynamoDB's responses, and the catalog.

``TableDescription`` is one table's durable record (``to_record``/``from_record`` give plain
dicts for the controller to store as bytes) and renders DynamoDB's ``TableDescription`` shape
(``to_response``). ``TableCatalog`` holds the descriptions by name and applies the lifecycle::

    create ──> CREATING ──mark_active──> ACTIVE ──begin_delete──> DELETING ──remove──> (gone)
                  └──────────────remove (the controller rolls back a failed create)──────┘

with DynamoDB's answers: a second CreateTable is ``ResourceInUseException`` in every state
("Table already exists: NAME", or "... Table is being created: NAME" while CREATING); DeleteTable
is ``ResourceInUseException`` while CREATING or DELETING (the API reference says a second delete
"returns no error", but the service answers "Table is being deleted", which we follow); an absent
table is ``ResourceNotFoundException`` ("Requested resource not found: Table: NAME not found").
The account limits are parameters: tables in any state (``tables_max``, DynamoDB's default quota
is 2,500) and tables CREATING or DELETING at once (``table_operations_max``, 500), both
``LimitExceededException``.

Request validation lives here for DescribeTable, DeleteTable and ListTables, and in
``create_table`` (re-exported) for CreateTable. DescribeTable and DeleteTable also take the table
ARN as TableName, as DynamoDB does. ListTables pages names in byte order, ``Limit`` 1-100
(default 100), ``ExclusiveStartTableName`` need not exist, and ``LastEvaluatedTableName`` is
present exactly when more names follow the page.

Response details (checked against the service where noted in the code): ``BillingModeSummary``
is absent for a table created PROVISIONED; for PAY_PER_REQUEST it carries
``LastUpdateToPayPerRequestDateTime`` except in the CreateTable response; ``ProvisionedThroughput``
is always present (0 and 0 under PAY_PER_REQUEST) with ``NumberOfDecreasesToday``;
``TableClassSummary`` appears only when CreateTable named a TableClass; ``WarmThroughput`` is not
shown (we do no pre-warming). ``CreationDateTime`` is a timezone-aware ``datetime``, as boto3
returns it. Time and table ids are passed in (no clock, no randomness here), so the simulator
replays.

Pure: no ray, no rocksdict.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from raydynamo.api.errors import (
    LimitExceededException,
    ResourceInUseException,
    ResourceNotFoundException,
    SerializationException,
)
from raydynamo.api.schema import KeySchema, TableSchema
from raydynamo.api.text import refuse_lone_surrogates
from raydynamo.metadata.constraints import (
    Violations,
    check_known_parameters,
    check_type,
    required_parameter_missing,
)
from raydynamo.metadata.create_table import CreateTableSpec, validate_create_table

__all__ = [
    "ARN_ACCOUNT",
    "ARN_REGION",
    "LIST_TABLES_LIMIT_MAX",
    "CreateTableSpec",
    "InvalidTransition",
    "ListTablesRequest",
    "TableCatalog",
    "TableDescription",
    "TableStatus",
    "create_table_response",
    "delete_table_response",
    "describe_table_response",
    "list_tables_page",
    "table_arn",
    "validate_create_table",
    "validate_delete_table",
    "validate_describe_table",
    "validate_list_tables",
]

ARN_REGION = "local"
ARN_ACCOUNT = "000000000000"
LIST_TABLES_LIMIT_MAX = 100
RECORD_VERSION = 1


class TableStatus(StrEnum):
    CREATING = "CREATING"
    ACTIVE = "ACTIVE"
    DELETING = "DELETING"
    UPDATING = "UPDATING"  # only shown in UpdateTable's response: updates apply at once


class InvalidTransition(ValueError):
    """The controller asked for a status change the lifecycle does not have (a bug, not a user
    error: never shown to clients)."""


def table_arn(table_name: str) -> str:
    return f"arn:aws:dynamodb:{ARN_REGION}:{ARN_ACCOUNT}:table/{table_name}"


@dataclass(frozen=True, slots=True)
class TableDescription:
    """One table: its DynamoDB-visible description plus what the controller keeps with it."""

    table_name: str
    table_id: str
    key: KeySchema
    attribute_definitions: tuple[tuple[str, str], ...]  # (name, type), in the order sent
    billing_mode: str  # "PROVISIONED" | "PAY_PER_REQUEST"
    read_capacity_units: int  # 0 under PAY_PER_REQUEST
    write_capacity_units: int
    creation_date_time: datetime  # timezone-aware
    table_status: TableStatus
    item_count: int = 0
    table_size_bytes: int = 0
    table_class: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    last_increase_date_time: datetime | None = None
    last_decrease_date_time: datetime | None = None
    decreases_today: int = 0  # decreases on the UTC day of last_decrease_date_time
    last_update_to_pay_per_request: datetime | None = None

    def __post_init__(self) -> None:
        assert self.creation_date_time.tzinfo is not None, "CreationDateTime must be aware"
        assert self.item_count >= 0
        assert self.table_size_bytes >= 0

    @staticmethod
    def from_spec(spec: CreateTableSpec, *, table_id: str, now: datetime) -> TableDescription:
        """A new table in CREATING."""
        return TableDescription(
            table_name=spec.table_name,
            table_id=table_id,
            key=spec.key,
            attribute_definitions=spec.attribute_definitions,
            billing_mode=spec.billing_mode,
            read_capacity_units=spec.read_capacity_units,
            write_capacity_units=spec.write_capacity_units,
            creation_date_time=now,
            table_status=TableStatus.CREATING,
            table_class=spec.table_class,
            tags=spec.tags,
        )

    @property
    def table_arn(self) -> str:
        return table_arn(self.table_name)

    def schema(self) -> TableSchema:
        return TableSchema(self.table_name, self.table_id, self.key)

    def with_status(self, status: TableStatus) -> TableDescription:
        return dataclasses.replace(self, table_status=status)

    def with_stats(self, *, item_count: int, table_size_bytes: int) -> TableDescription:
        return dataclasses.replace(self, item_count=item_count, table_size_bytes=table_size_bytes)

    def _key_schema_response(self) -> list[dict[str, str]]:
        out = [{"AttributeName": self.key.partition_key, "KeyType": "HASH"}]
        if self.key.sort_key is not None:
            out.append({"AttributeName": self.key.sort_key, "KeyType": "RANGE"})
        return out

    def to_response(self, *, for_create: bool = False) -> dict[str, Any]:
        """DynamoDB's TableDescription; ``for_create`` gives the CreateTable response's variant."""
        out: dict[str, Any] = {
            "AttributeDefinitions": [
                {"AttributeName": name, "AttributeType": kind}
                for name, kind in self.attribute_definitions
            ],
            "TableName": self.table_name,
            "KeySchema": self._key_schema_response(),
            "TableStatus": str(self.table_status),
            "CreationDateTime": self.creation_date_time,
            "ProvisionedThroughput": self._throughput_response(),
            "TableSizeBytes": self.table_size_bytes,
            "ItemCount": self.item_count,
            "TableArn": self.table_arn,
            "TableId": self.table_id,
        }
        if self.billing_mode == "PAY_PER_REQUEST":
            summary: dict[str, Any] = {"BillingMode": "PAY_PER_REQUEST"}
            if not for_create:
                summary["LastUpdateToPayPerRequestDateTime"] = (
                    self.last_update_to_pay_per_request or self.creation_date_time
                )
            out["BillingModeSummary"] = summary
        if self.table_class is not None:
            out["TableClassSummary"] = {"TableClass": self.table_class}
        out["DeletionProtectionEnabled"] = False
        return out

    def _throughput_response(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.last_increase_date_time is not None:
            out["LastIncreaseDateTime"] = self.last_increase_date_time
        if self.last_decrease_date_time is not None:
            out["LastDecreaseDateTime"] = self.last_decrease_date_time
        out["NumberOfDecreasesToday"] = self.decreases_today
        out["ReadCapacityUnits"] = self.read_capacity_units
        out["WriteCapacityUnits"] = self.write_capacity_units
        return out

    def to_record(self) -> dict[str, Any]:
        """Plain values only (str, int, list, None): safe for msgpack or JSON."""
        return {
            "record_version": RECORD_VERSION,
            "table_name": self.table_name,
            "table_id": self.table_id,
            "key": self.key.to_wire(),
            "attribute_definitions": [list(d) for d in self.attribute_definitions],
            "billing_mode": self.billing_mode,
            "read_capacity_units": self.read_capacity_units,
            "write_capacity_units": self.write_capacity_units,
            "creation_date_time": self.creation_date_time.isoformat(),
            "table_status": str(self.table_status),
            "item_count": self.item_count,
            "table_size_bytes": self.table_size_bytes,
            "table_class": self.table_class,
            "tags": [list(t) for t in self.tags],
            "last_increase_date_time": _iso(self.last_increase_date_time),
            "last_decrease_date_time": _iso(self.last_decrease_date_time),
            "decreases_today": self.decreases_today,
            "last_update_to_pay_per_request": _iso(self.last_update_to_pay_per_request),
        }

    @staticmethod
    def from_record(record: Mapping[str, Any]) -> TableDescription:
        assert record["record_version"] == RECORD_VERSION, "unknown table record version"
        return TableDescription(
            table_name=record["table_name"],
            table_id=record["table_id"],
            key=KeySchema.from_wire(list(record["key"])),
            attribute_definitions=tuple((n, t) for n, t in record["attribute_definitions"]),
            billing_mode=record["billing_mode"],
            read_capacity_units=int(record["read_capacity_units"]),
            write_capacity_units=int(record["write_capacity_units"]),
            creation_date_time=datetime.fromisoformat(record["creation_date_time"]),
            table_status=TableStatus(record["table_status"]),
            item_count=int(record["item_count"]),
            table_size_bytes=int(record["table_size_bytes"]),
            table_class=record.get("table_class"),
            tags=tuple((k, v) for k, v in record.get("tags", ())),
            last_increase_date_time=_parse_iso(record.get("last_increase_date_time")),
            last_decrease_date_time=_parse_iso(record.get("last_decrease_date_time")),
            decreases_today=int(record.get("decreases_today", 0)),
            last_update_to_pay_per_request=_parse_iso(record.get("last_update_to_pay_per_request")),
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None


# ---------------------------------------------------------------- responses


def create_table_response(description: TableDescription) -> dict[str, Any]:
    return {"TableDescription": description.to_response(for_create=True)}


def describe_table_response(description: TableDescription) -> dict[str, Any]:
    return {"Table": description.to_response()}


def delete_table_response(description: TableDescription) -> dict[str, Any]:
    """``description`` is the table as ``begin_delete`` left it (DELETING)."""
    assert description.table_status is TableStatus.DELETING
    return {"TableDescription": description.to_response()}


# ---------------------------------------------------------------- request validation


def _name_from_arn(value: str) -> str:
    """The table name inside ``arn:aws:dynamodb:REGION:ACCOUNT:table/NAME``; else ``value``."""
    parts = value.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[2] == "dynamodb":
        resource = parts[5]
        if resource.startswith("table/") and "/" not in resource[len("table/") :]:
            return resource[len("table/") :]
    return value


def _table_name_request(request: Mapping[str, Any]) -> str:
    refuse_lone_surrogates(request)
    if not isinstance(request, Mapping):
        raise SerializationException("Start of structure or map found where not expected.")
    check_known_parameters(request, ("TableName",))
    value = request.get("TableName")
    if value is None:
        raise required_parameter_missing("TableName")
    check_type(value, "TableName", str)
    name = _name_from_arn(value)
    violations = Violations()
    violations.table_name(name, "tableName")
    violations.raise_if_any()
    return name


def validate_describe_table(request: Mapping[str, Any]) -> str:
    """The table name a DescribeTable request names (a name or the table's ARN)."""
    return _table_name_request(request)


def validate_delete_table(request: Mapping[str, Any]) -> str:
    """The table name a DeleteTable request names (a name or the table's ARN)."""
    return _table_name_request(request)


@dataclass(frozen=True, slots=True)
class ListTablesRequest:
    exclusive_start_table_name: str | None = None
    limit: int = LIST_TABLES_LIMIT_MAX


def validate_list_tables(request: Mapping[str, Any]) -> ListTablesRequest:
    refuse_lone_surrogates(request)
    if not isinstance(request, Mapping):
        raise SerializationException("Start of structure or map found where not expected.")
    check_known_parameters(request, ("ExclusiveStartTableName", "Limit"))
    start = request.get("ExclusiveStartTableName")
    limit = request.get("Limit")
    violations = Violations()
    if start is not None:
        check_type(start, "ExclusiveStartTableName", str)
        violations.table_name(start, "exclusiveStartTableName")
    if limit is not None:
        check_type(limit, "Limit", int)
        violations.at_least(limit, "limit", 1)
        violations.at_most(limit, "limit", LIST_TABLES_LIMIT_MAX)
    violations.raise_if_any()
    return ListTablesRequest(start, LIST_TABLES_LIMIT_MAX if limit is None else limit)


def list_tables_page(names: Iterable[str], request: ListTablesRequest) -> dict[str, Any]:
    """The ListTables response for ``names`` (any order; paged in byte order)."""
    ordered = sorted(names, key=lambda n: n.encode("utf-8"))
    start = 0
    if request.exclusive_start_table_name is not None:
        keys = [n.encode("utf-8") for n in ordered]
        start = bisect.bisect_right(keys, request.exclusive_start_table_name.encode("utf-8"))
    page = ordered[start : start + request.limit]
    out: dict[str, Any] = {"TableNames": page}
    if page and start + request.limit < len(ordered):
        out["LastEvaluatedTableName"] = page[-1]
    return out


# ---------------------------------------------------------------- the catalog


def _not_found(table_name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Requested resource not found: Table: {table_name} not found")


def _in_use(table_name: str, what: str) -> ResourceInUseException:
    return ResourceInUseException(
        f"Attempt to change a resource which is still in use: Table is being {what}: {table_name}"
    )


_TRANSITIONS: dict[TableStatus, frozenset[TableStatus]] = {
    TableStatus.CREATING: frozenset({TableStatus.ACTIVE}),
    TableStatus.ACTIVE: frozenset({TableStatus.DELETING}),
    TableStatus.DELETING: frozenset(),
    TableStatus.UPDATING: frozenset(),
}


class TableCatalog:
    """Table descriptions by name, with DynamoDB's lifecycle rules and account limits."""

    def __init__(self, *, tables_max: int = 2500, table_operations_max: int = 500) -> None:
        assert tables_max >= 1
        assert table_operations_max >= 1
        self.tables_max = tables_max
        self.table_operations_max = table_operations_max
        self._tables: dict[str, TableDescription] = {}

    def __len__(self) -> int:
        return len(self._tables)

    def __contains__(self, table_name: object) -> bool:
        return table_name in self._tables

    def get(self, table_name: str) -> TableDescription | None:
        return self._tables.get(table_name)

    def names(self) -> list[str]:
        return sorted(self._tables, key=lambda n: n.encode("utf-8"))

    def descriptions(self) -> list[TableDescription]:
        return [self._tables[name] for name in self.names()]

    def _operations_in_flight(self) -> int:
        busy = (TableStatus.CREATING, TableStatus.DELETING)
        return sum(1 for d in self._tables.values() if d.table_status in busy)

    def _check_operations_limit(self) -> None:
        if self._operations_in_flight() >= self.table_operations_max:
            raise LimitExceededException(
                f"Subscriber limit exceeded: Only {self.table_operations_max} tables can be "
                "created, updated, or deleted simultaneously"
            )

    def create(self, spec: CreateTableSpec, *, table_id: str, now: datetime) -> TableDescription:
        """Add a table in CREATING; the controller places its partitions, then ``mark_active``."""
        existing = self._tables.get(spec.table_name)
        if existing is not None:
            if existing.table_status is TableStatus.CREATING:
                raise _in_use(spec.table_name, "created")
            raise ResourceInUseException(f"Table already exists: {spec.table_name}")
        if len(self._tables) >= self.tables_max:
            # wording unverified (seen from the service with its old quota of 256)
            raise LimitExceededException(
                f"Subscriber limit exceeded: There is a limit of {self.tables_max} tables per "
                "subscriber"
            )
        self._check_operations_limit()
        description = TableDescription.from_spec(spec, table_id=table_id, now=now)
        self._tables[spec.table_name] = description
        return description

    def describe(self, table_name: str) -> TableDescription:
        description = self._tables.get(table_name)
        if description is None:
            raise _not_found(table_name)
        return description

    def list_tables(self, request: ListTablesRequest) -> dict[str, Any]:
        return list_tables_page(self._tables, request)

    def _transition(self, table_name: str, status: TableStatus) -> TableDescription:
        current = self._tables.get(table_name)
        if current is None:
            raise InvalidTransition(f"no table {table_name!r} to move to {status}")
        if current.table_status is status:
            return current  # idempotent: a controller replaying its log after a restart
        if status not in _TRANSITIONS[current.table_status]:
            raise InvalidTransition(f"{table_name!r}: {current.table_status} -> {status}")
        updated = current.with_status(status)
        self._tables[table_name] = updated
        return updated

    def mark_active(self, table_name: str) -> TableDescription:
        """CREATING -> ACTIVE, once every partition has its replicas."""
        return self._transition(table_name, TableStatus.ACTIVE)

    def begin_delete(self, table_name: str) -> TableDescription:
        """A user's DeleteTable: ACTIVE -> DELETING, with DynamoDB's refusals."""
        current = self._tables.get(table_name)
        if current is None:
            raise _not_found(table_name)
        if current.table_status is TableStatus.CREATING:
            raise _in_use(table_name, "created")
        if current.table_status is TableStatus.DELETING:
            raise _in_use(table_name, "deleted")
        self._check_operations_limit()
        return self._transition(table_name, TableStatus.DELETING)

    def replace(self, description: TableDescription) -> None:
        """Store an updated description of an ACTIVE table (UpdateTable)."""
        current = self._tables.get(description.table_name)
        assert current is not None and current.table_status is TableStatus.ACTIVE
        assert description.table_status is TableStatus.ACTIVE
        self._tables[description.table_name] = description

    def active(self, table_name: str) -> TableDescription:
        """An ACTIVE table, or DynamoDB's refusal to change it."""
        current = self._tables.get(table_name)
        if current is None:
            raise _not_found(table_name)
        if current.table_status is TableStatus.CREATING:
            raise _in_use(table_name, "created")
        if current.table_status is TableStatus.DELETING:
            raise _in_use(table_name, "deleted")
        return current

    def remove(self, table_name: str) -> TableDescription:
        """Forget a DELETING table (its data is gone) or roll back a CREATING one."""
        current = self._tables.get(table_name)
        if current is None:
            raise InvalidTransition(f"no table {table_name!r} to remove")
        if current.table_status is TableStatus.ACTIVE:
            raise InvalidTransition(f"{table_name!r} is ACTIVE: begin_delete first")
        del self._tables[table_name]
        return current

    def set_stats(self, table_name: str, *, item_count: int, table_size_bytes: int) -> None:
        """Record the periodically refreshed ItemCount and TableSizeBytes."""
        current = self.describe(table_name)
        self._tables[table_name] = current.with_stats(
            item_count=item_count, table_size_bytes=table_size_bytes
        )

    def restore(self, description: TableDescription) -> None:
        """Load a stored description as it is (controller restart); no limits applied."""
        self._tables[description.table_name] = description

    def to_records(self) -> list[dict[str, Any]]:
        return [d.to_record() for d in self.descriptions()]

    @staticmethod
    def from_records(
        records: Iterable[Mapping[str, Any]],
        *,
        tables_max: int = 2500,
        table_operations_max: int = 500,
    ) -> TableCatalog:
        catalog = TableCatalog(tables_max=tables_max, table_operations_max=table_operations_max)
        for record in records:
            catalog.restore(TableDescription.from_record(record))
        return catalog
