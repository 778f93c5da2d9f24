"""What every item operation shares: the router contract, request checks, keys and routing.

Role: the read operations (GetItem, Query, Scan, BatchGetItem) and the write operations
(PutItem, UpdateItem, DeleteItem, BatchWriteItem) are plain async functions
``op(request, catalog, transport) -> response``; this module holds what they all need:

- the two Protocols the router implements for them (``TableCatalogView``,
  ``PartitionTransport``); their shapes are a fixed contract with the router;
- the constraint errors of the service, which follow the JSON shape checks of ``shapes.py``
  (``ConstraintErrors``: ``"2 validation errors detected: Value 'x' at 'returnValues' failed to
  satisfy constraint: ...; ..."``), and the table name rules;
- keys: validating a ``Key`` or an ``Item`` against a table's key schema, extracting an item's key,
  and finding the partition and storage key of an item (``locate``);
- request ids, and turning a partition's error result back into the exception it describes.

Stable names (the read side imports them): ``TableCatalogView``, ``PartitionTransport``,
``ConstraintErrors``, ``KEY_MISMATCH``, ``check_table_name``, ``valid_table_name``,
``check_request_items_keys``, ``shown_map``, ``check_return_consumed_capacity``, ``key_elements``,
``validate_key_for``, ``validate_item_for``, ``validate_item_values``, ``key_of``, ``locate``,
``Located``, ``error_from_result``, ``raise_for_result``,
``client_operation``, and the enum tuples below.

Invariants: nothing here performs I/O or keeps state; every check raises a ``ClientError``
subclass, never another exception, for any request shape. Must not import ray or rocksdict.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

from raydynamo.api.errors import ClientError, ValidationException, from_wire
from raydynamo.api.schema import Item, KeySchema, TableSchema, item_key_hash, storage_key
from raydynamo.api.values import (
    canonicalize,
    canonicalize_item,
    validate_attribute_value,
    validate_item,
    validate_item_key,
    validate_key,
    value_type,
)
from raydynamo.metadata.partition_map import PartitionRange

# --- the router contract -------------------------------------------------------------------------


class TableCatalogView(Protocol):
    """What an operation may ask of the router's metadata cache."""

    def schema(self, table_name: str) -> TableSchema:
        """The table's schema; raises ``ResourceNotFoundException("Requested resource not
        found")`` when there is no such (active) table."""
        ...

    def partition_for(self, table_name: str, key_hash: int) -> PartitionRange:
        """The partition whose hash range holds ``key_hash``."""
        ...

    def partitions(self, table_name: str) -> list[PartitionRange]:
        """Every partition of the table, sorted by ``hash_start``, covering ``[0, 2**64)``."""
        ...


class PartitionTransport(Protocol):
    """How an operation reaches a partition's replicas (the router does the retries)."""

    def command_id(self, *parts: str | int) -> bytes:
        """The request id for one partition command of this client operation: the same for the
        same ``parts`` on every retry of the operation, distinct for distinct ``parts``."""
        ...

    async def write(
        self, table_name: str, partition: PartitionRange, request_id: bytes, command: bytes
    ) -> dict[str, Any]:
        """Order ``command`` in the partition's log; return the dict its apply produced.

        Exactly once per ``request_id``: a retry returns the first result. A conditional
        failure is a result value (``{"error": ...}``), never an exception.
        """
        ...

    async def read(
        self,
        table_name: str,
        partition: PartitionRange,
        read_request: dict[str, Any],
        consistent: bool,
    ) -> dict[str, Any]:
        """Serve ``read_request`` at the leader (``consistent``) or any replica."""
        ...


# --- enums, in the order DynamoDB lists them in its messages -------------------------------------

RETURN_VALUES = ("ALL_NEW", "UPDATED_OLD", "ALL_OLD", "NONE", "UPDATED_NEW")
RETURN_VALUES_ON_CONDITION_CHECK_FAILURE = ("ALL_OLD", "NONE")
RETURN_CONSUMED_CAPACITY = ("INDEXES", "TOTAL", "NONE")
RETURN_ITEM_COLLECTION_METRICS = ("SIZE", "NONE")
CONDITIONAL_OPERATORS = ("AND", "OR")
SELECT_VALUES = ("SPECIFIC_ATTRIBUTES", "COUNT", "ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES")

KEY_MISMATCH = "The provided key element does not match the schema"
TABLE_NAME_CHARS_MIN = 3
TABLE_NAME_CHARS_MAX = 255
TABLE_NAME_PATTERN = "[a-zA-Z0-9_.-]+"
TABLE_NAME_RE = re.compile(r"[a-zA-Z0-9_.-]+")
_SHOWN_VALUE_CHARS_MAX = 200


# --- the service's constraint errors --------------------------------------------------------------


class ConstraintErrors:
    """Collects DynamoDB's member constraint violations and raises them as one message.

    DynamoDB reports every violated constraint of a request at once, in its own order of members,
    as ``"N validation error(s) detected: <e1>; <e2>"``; each ``<e>`` reads
    ``Value <v> at '<member>' failed to satisfy constraint: <rule>``. Add the checks in the order
    of the operation's members, then call ``raise_if_any``.
    """

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, value: object, member: str, rule: str) -> None:
        shown = "null" if value is None else f"'{value}'"
        self.messages.append(f"Value {shown} at '{member}' failed to satisfy constraint: {rule}")

    def not_null(self, value: object, member: str) -> None:
        if value is None:
            self.add(None, member, "Member must not be null")

    def enum(self, value: object, member: str, allowed: tuple[str, ...]) -> None:
        if value is not None and value not in allowed:
            self.add(value, member, f"Member must satisfy enum value set: [{', '.join(allowed)}]")

    def length_min(self, value: object, member: str, minimum: int, size: int) -> None:
        if value is not None and size < minimum:
            self.add(value, member, f"Member must have length greater than or equal to {minimum}")

    def length_max(self, value: object, member: str, maximum: int, size: int) -> None:
        if value is not None and size > maximum:
            self.add(value, member, f"Member must have length less than or equal to {maximum}")

    def raise_if_any(self) -> None:
        if not self.messages:
            return
        count = len(self.messages)
        noun = "error" if count == 1 else "errors"
        raise ValidationException(f"{count} validation {noun} detected: {'; '.join(self.messages)}")


def check_table_name(errors: ConstraintErrors, name: object, member: str = "tableName") -> None:
    """Constraints on the table name of a data-plane operation: null, pattern, then length.

    DynamoDB's naming rules (3 to 255 characters of ``[a-zA-Z0-9_.-]``), checked before any
    table is looked up: ScyllaDB's tests saw DynamoDB answer an item operation on an invalid
    name with this ValidationException, not ResourceNotFoundException. The service also takes a
    table ARN here (1 to 1024 characters); raydynamo does not, so an ARN fails the pattern.
    """
    if name is None:
        errors.not_null(name, member)
        return
    assert isinstance(name, str), "shapes.check_request runs first"
    if not TABLE_NAME_RE.fullmatch(name):
        errors.add(
            name, member, f"Member must satisfy regular expression pattern: {TABLE_NAME_PATTERN}"
        )
    errors.length_min(name, member, TABLE_NAME_CHARS_MIN, len(name))
    errors.length_max(name, member, TABLE_NAME_CHARS_MAX, len(name))


def valid_table_name(name: object) -> bool:
    """True for a name that passes ``check_table_name`` (a key of a batch's RequestItems)."""
    return (
        isinstance(name, str)
        and TABLE_NAME_CHARS_MIN <= len(name) <= TABLE_NAME_CHARS_MAX
        and TABLE_NAME_RE.fullmatch(name) is not None
    )


REQUEST_ITEMS_KEYS_RULE = (
    "Map keys must satisfy constraint: [Member must have length less than or equal to 255, "
    "Member must have length greater than or equal to 3, "
    f"Member must satisfy regular expression pattern: {TABLE_NAME_PATTERN}]"
)


def shown_map(items: Mapping[str, Any]) -> str:
    """A request map echoed in a constraint message.

    wording unverified: DynamoDB renders it with Java's ``toString`` (dynalite's tests only match
    ``{.+}``); the text is bounded like every echoed value.
    """
    inner = ", ".join(f"{name}={value}" for name, value in items.items())
    if len(inner) > _SHOWN_VALUE_CHARS_MAX:
        inner = inner[:_SHOWN_VALUE_CHARS_MAX] + "..."
    return "{" + inner + "}"


def check_request_items_keys(errors: ConstraintErrors, items: Mapping[str, Any]) -> None:
    """The table names keying a BatchGetItem/BatchWriteItem ``RequestItems`` (one message for
    the whole map, as dynalite captured DynamoDB's answer for both operations)."""
    if any(not valid_table_name(name) for name in items):
        errors.add(shown_map(items), "requestItems", REQUEST_ITEMS_KEYS_RULE)


def check_return_consumed_capacity(errors: ConstraintErrors, value: object) -> None:
    errors.enum(value, "returnConsumedCapacity", RETURN_CONSUMED_CAPACITY)


# --- keys and routing --------------------------------------------------------------------------


def key_elements(key: KeySchema) -> tuple[tuple[str, str], tuple[str, str] | None]:
    """The (name, type) pairs ``values.validate_key`` takes, from a table's key schema."""
    sort = (key.sort_key, key.sort_type) if key.sort_key is not None else None
    assert sort is None or sort[1] is not None
    return (key.partition_key, key.partition_type), sort  # type: ignore[return-value]


def validate_key_for(schema: TableSchema, key: object) -> Item:
    """A ``Key`` parameter checked against the schema; returns it in canonical form.

    Raises ``KEY_MISMATCH`` ("The provided key element does not match the schema") when the
    attribute names or their types differ from the schema, and the key-attribute errors of
    ``values.validate_key_attribute`` (empty values, sizes).
    """
    partition, sort = key_elements(schema.key)
    if isinstance(key, Mapping):
        for name, value in key.items():
            validate_attribute_value(value, path=f"Key.{name}")
        elements = [e for e in (partition, sort) if e is not None]
        if set(key) == {name for name, _ in elements} and any(
            value_type(key[name]) != key_type for name, key_type in elements
        ):
            # A Key of the wrong type is a schema mismatch (an Item's is a "Type mismatch").
            raise ValidationException(KEY_MISMATCH)
    validate_key(key, partition, sort)
    assert isinstance(key, Mapping)
    return {name: canonicalize(value) for name, value in key.items()}


def validate_item_for(schema: TableSchema, item: Mapping[str, Any]) -> Item:
    """An ``Item`` (already value-checked by ``validate_item``) with valid key attributes.

    Returns the item in canonical form (numbers normalized, binaries as bytes).
    """
    partition, sort = key_elements(schema.key)
    validate_item_key(item, partition, sort)
    return canonicalize_item(item)


def validate_item_values(item: object, path: str = "Item") -> None:
    """Attribute values and the 400 KB limit of an item, before its table is known."""
    validate_item(item, path=path)


def key_of(schema: TableSchema, item: Mapping[str, Any]) -> Item:
    """The key attributes of an item (or of a Key map), in schema order."""
    return {name: dict(item[name]) for name in schema.key.names}


@dataclass(frozen=True, slots=True)
class Located:
    """Where an item lives: its partition, its partition-local storage key and its key hash."""

    partition: PartitionRange
    storage_key: bytes
    key_hash: int


def locate(
    catalog: TableCatalogView, schema: TableSchema, item_or_key: Mapping[str, Any]
) -> Located:
    """The partition and storage key of a validated item or key."""
    key_hash = item_key_hash(schema.key, item_or_key)
    partition = catalog.partition_for(schema.table_name, key_hash)
    return Located(partition, storage_key(schema.key, item_or_key), key_hash)


# --- results and errors ---------------------------------------------------------------------------


def error_from_result(result: Mapping[str, Any], operation: str = "") -> ClientError | None:
    """The exception a partition result carries in wire form (``{"error": ...}``), if any."""
    wire = result.get("error")
    if wire is None:
        return None
    return from_wire(wire, operation)


def raise_for_result(result: Mapping[str, Any], operation: str = "") -> None:
    err = error_from_result(result, operation)
    if err is not None:
        raise err


P = ParamSpec("P")
R = TypeVar("R")


def client_operation(
    operation: str,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate an async operation so every ``ClientError`` it raises names ``operation``.

    This gives boto3's text: ``An error occurred (Code) when calling the PutItem operation: ...``.
    """

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await fn(*args, **kwargs)
            except ClientError as err:
                if err.operation_name:
                    raise
                raise err.with_operation(operation) from None

        return wrapper

    return decorate
