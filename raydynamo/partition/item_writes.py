"""Item writes in a partition's log: their command encoding and how a replica applies them.

Role: PutItem, UpdateItem, DeleteItem and the put/delete requests of BatchWriteItem reach a
partition as one ``ItemWrite`` command (``KIND_ITEM_WRITE``) holding one or more item operations.
Applying it (``apply_item_write``) reads each old item, checks the condition, computes the new
item and stages it; the condition check and the write happen in the same applied slot, which is
what makes conditional writes linearizable.

Encoding (msgpack, lists so the layout can grow)::

    [KIND_ITEM_WRITE, request_id, ITEM_WRITE_FORMAT, key_schema, atomic, [op, ...]]
    op = [OP_PUT | OP_UPDATE | OP_DELETE, storage_key, {field: value}]

with op fields ``item`` (put), ``key`` (update), ``cond`` (the condition: ConditionExpression or
Expected), ``enc`` and ``sz`` (a put whose planner knew the item's size: the item already in its
stored encoding, ``api.schema.encode_item``, and that size, so a replica stores the bytes as
they came and neither decodes, measures nor re-encodes the item; it decodes to a
``StoredPutOp``), ``upd`` (the update: UpdateExpression or AttributeUpdates), ``rv``
ReturnValues and ``rvf`` ReturnValuesOnConditionCheckFailure. Conditions and updates travel
bound, in the one wire form of ``api/expressions/wire.py`` (names resolved, values inlined at
the router), the same form read filters travel in: a replica never parses expression text.
``ITEM_WRITE_FORMAT`` versions the layout; a replica refuses (as an error result) a format it
does not know, and still applies the previous one (a log written before the upgrade). New op
fields may be added; a field's meaning never changes within a format.

The result of a command is ``{"ops": [result, ...]}``, one per op, each with ``old_size`` and
``new_size`` (bytes, None when there is no item: the inputs of write capacity), and either
``attributes`` (what ReturnValues asked for, omitted when empty) or ``error`` (a ``ClientError``
in wire form: ConditionalCheckFailedException with ``Item`` when ReturnValuesOnConditionCheckFailure
is ALL_OLD, or a ValidationException only the item can reveal: update operand types, document
paths, the 400 KB limit). A failed op writes nothing; with ``atomic`` a failed op cancels the
whole command.

Invariants: applying is deterministic (every replica stages the same bytes and returns the same
result) and never raises: user-caused failures are results, and an unexpected fault becomes an
``InternalServerError`` result that writes nothing, so a bad command cannot stop a replica.
Must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack

from raydynamo.api.errors import (
    ClientError,
    ConditionalCheckFailedException,
    InternalServerError,
    ValidationException,
)
from raydynamo.api.expressions import apply_update, project_paths
from raydynamo.api.expressions.update import INCORRECT_DATA_TYPE
from raydynamo.api.expressions.wire import (
    WireCondition,
    WireUpdate,
    condition_predicate,
    decode_update,
)
from raydynamo.api.schema import Item, KeySchema, decode_item, encode_item
from raydynamo.api.sizes import ITEM_SIZE_MAX_BYTES, ITEM_SIZE_TO_UPDATE_EXCEEDED, item_size
from raydynamo.partition.keys import PartitionKeys
from raydynamo.storage.engine import ReadView, WriteBatch

KIND_ITEM_WRITE = 2
ITEM_WRITE_FORMAT = 3  # 1 carried expression text; 2 had no stored-form puts (``enc``, ``sz``)
ITEM_WRITE_FORMATS_READ = frozenset({2, 3})  # a log written by the previous format still applies

OP_PUT = 1
OP_UPDATE = 2
OP_DELETE = 3

CONDITIONAL_FAILED = "The conditional request failed"
# DynamoDB's wording for a legacy AttributeUpdates action on a value of the wrong type.
LEGACY_TYPE_MISMATCH = "Type mismatch for attribute to update"
ITEM_WRITE_OPS_MAX = 100  # BatchWriteItem sends at most 25; transactions at most 100


@dataclass(frozen=True, slots=True)
class PutItemOp:
    """Replace the item under ``storage_key`` by ``item`` (canonical, size-checked).

    ``size_bytes``, when the planner has it (``api.sizes.item_size`` of ``item``), makes the
    command carry the item in its stored encoding (``enc``/``sz``): encoded once, at the router.
    """

    storage_key: bytes
    item: Item
    condition: WireCondition | None = None
    return_values: str = "NONE"
    return_values_on_condition_check_failure: str = "NONE"
    size_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class StoredPutOp:
    """A put as a replica decodes it from ``enc``/``sz``: the item's stored bytes and size."""

    storage_key: bytes
    stored: bytes
    size_bytes: int
    condition: WireCondition | None = None
    return_values: str = "NONE"
    return_values_on_condition_check_failure: str = "NONE"


@dataclass(frozen=True, slots=True)
class UpdateItemOp:
    """Update the item whose primary key is ``key``, creating it unless the update only deletes.

    ``update`` None (no UpdateExpression, no AttributeUpdates) still creates an absent item.
    """

    storage_key: bytes
    key: Item
    update: WireUpdate | None = None
    condition: WireCondition | None = None
    return_values: str = "NONE"
    return_values_on_condition_check_failure: str = "NONE"


@dataclass(frozen=True, slots=True)
class DeleteItemOp:
    storage_key: bytes
    condition: WireCondition | None = None
    return_values: str = "NONE"
    return_values_on_condition_check_failure: str = "NONE"


ItemOp = PutItemOp | StoredPutOp | UpdateItemOp | DeleteItemOp


@dataclass(frozen=True, slots=True)
class ItemWrite:
    """One client request's item operations on one partition, applied in order in one slot."""

    request_id: bytes
    key_schema: KeySchema
    ops: tuple[ItemOp, ...]
    atomic: bool = False


# --- encoding -------------------------------------------------------------------------------------


def _op_fields(op: ItemOp) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if isinstance(op, PutItemOp):
        if op.size_bytes is None:
            fields["item"] = op.item
        else:
            fields["enc"], fields["sz"] = encode_item(op.item), op.size_bytes
    elif isinstance(op, StoredPutOp):
        fields["enc"], fields["sz"] = op.stored, op.size_bytes
    elif isinstance(op, UpdateItemOp):
        fields["key"] = op.key
        if op.update is not None:
            fields["upd"] = op.update
    if op.condition is not None:
        fields["cond"] = op.condition
    if op.return_values != "NONE":
        fields["rv"] = op.return_values
    if op.return_values_on_condition_check_failure != "NONE":
        fields["rvf"] = op.return_values_on_condition_check_failure
    return fields


_OP_CODES = {
    PutItemOp: OP_PUT,
    StoredPutOp: OP_PUT,
    UpdateItemOp: OP_UPDATE,
    DeleteItemOp: OP_DELETE,
}


def encode_item_write(write: ItemWrite) -> bytes:
    assert 0 < len(write.ops) <= ITEM_WRITE_OPS_MAX, len(write.ops)
    ops = [[_OP_CODES[type(op)], op.storage_key, _op_fields(op)] for op in write.ops]
    body = [
        KIND_ITEM_WRITE,
        write.request_id,
        ITEM_WRITE_FORMAT,
        write.key_schema.to_wire(),
        write.atomic,
        ops,
    ]
    return msgpack.packb(body, use_bin_type=True)


def _decode_op(raw: Sequence[Any]) -> ItemOp:
    code, storage_key, fields = raw
    if not isinstance(storage_key, bytes) or not isinstance(fields, Mapping):
        raise ValueError("an item operation is [code, storage key, fields]")
    condition = fields.get("cond")
    returns = (fields.get("rv", "NONE"), fields.get("rvf", "NONE"))
    if code == OP_PUT and "enc" in fields:
        stored, size = fields["enc"], fields["sz"]
        if not isinstance(stored, bytes) or type(size) is not int or size < 0:
            raise ValueError("a stored-form put carries the item's bytes and its size")
        return StoredPutOp(storage_key, stored, size, condition, *returns)
    if code == OP_PUT:
        return PutItemOp(storage_key, fields["item"], condition, *returns)
    if code == OP_UPDATE:
        return UpdateItemOp(storage_key, fields["key"], fields.get("upd"), condition, *returns)
    if code == OP_DELETE:
        return DeleteItemOp(storage_key, condition, *returns)
    raise ValueError(f"unknown item operation {code}")


def decode_item_write(data: bytes) -> ItemWrite:
    kind, request_id, layout, key_schema, atomic, raw_ops = msgpack.unpackb(data, raw=False)
    if kind != KIND_ITEM_WRITE:
        raise ValueError(f"not an item write: kind {kind}")
    if layout not in ITEM_WRITE_FORMATS_READ:
        raise ValueError(f"item write format {layout!r} is not one of {ITEM_WRITE_FORMATS_READ}")
    ops = tuple(_decode_op(raw) for raw in raw_ops)
    return ItemWrite(request_id, KeySchema.from_wire(key_schema), ops, bool(atomic))


def command_header(data: bytes) -> tuple[int, bytes]:
    """(kind, request id) of an encoded command: its first two elements, the rest not decoded.

    Every command kind starts ``[kind, request_id, ...]`` (``partition/commands.py`` too).
    """
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data)
    unpacker.read_array_header()
    kind = unpacker.unpack()
    request_id = unpacker.unpack()
    return int(kind), bytes(request_id)


# --- reads that see the slot's earlier writes -----------------------------------------------------


class SlotOverlay(ReadView):
    """A view of ``base`` with ``batch`` (the slot's pending writes so far) applied on top.

    Earlier commands of a slot are not in the engine yet while later ones apply; reading through
    this overlay gives them the state they would see had each command been applied on its own.
    The batch is indexed incrementally, so a slot of n operations costs O(n) overall.
    """

    def __init__(self, base: ReadView, batch: WriteBatch) -> None:
        self.base = base
        self.batch = batch
        self._indexed = 0
        self._pending: dict[bytes, bytes | None] = {}
        self._deleted_ranges: list[tuple[bytes, bytes]] = []

    def _catch_up(self) -> None:
        ops = self.batch.ops
        for kind, key, arg in ops[self._indexed :]:
            if kind == WriteBatch.PUT:
                self._pending[key] = arg
            elif kind == WriteBatch.DELETE:
                self._pending[key] = None
            else:
                assert arg is not None
                for pending_key in [k for k in self._pending if key <= k < arg]:
                    del self._pending[pending_key]
                self._deleted_ranges.append((key, arg))
        self._indexed = len(ops)

    def get(self, key: bytes) -> bytes | None:
        self._catch_up()
        if key in self._pending:
            return self._pending[key]
        if any(start <= key < end for start, end in self._deleted_ranges):
            return None
        return self.base.get(key)

    def multi_get(self, keys: Sequence[bytes]) -> list[bytes | None]:
        return [self.get(key) for key in keys]

    def scan(
        self,
        start: bytes,
        end: bytes | None = None,
        *,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        self._catch_up()
        merged: dict[bytes, bytes | None] = {
            key: value
            for key, value in self.base.scan(start, end)
            if not any(s <= key < e for s, e in self._deleted_ranges)
        }
        for key, value in self._pending.items():
            if start <= key and (end is None or key < end):
                merged[key] = value
        pairs = sorted((k, v) for k, v in merged.items() if v is not None)
        if reverse:
            pairs.reverse()
        return iter(pairs if limit is None else pairs[:limit])


# --- applying -----------------------------------------------------------------------------------


@dataclass
class _Staging:
    """The writes of one command so far (storage key -> encoded item, None for deleted)."""

    view: ReadView
    keys: PartitionKeys
    writes: dict[bytes, bytes | None] = field(default_factory=dict)

    def old_item(self, storage_key: bytes) -> Item | None:
        data_key = self.keys.data(storage_key)
        raw = self.writes[data_key] if data_key in self.writes else self.view.get(data_key)
        return decode_item(raw) if raw is not None else None

    def stage(self, storage_key: bytes, item: Item | None) -> None:
        self.writes[self.keys.data(storage_key)] = encode_item(item) if item is not None else None

    def stage_stored(self, storage_key: bytes, stored: bytes) -> None:
        self.writes[self.keys.data(storage_key)] = stored


def apply_item_write(
    view: ReadView, keys: PartitionKeys, command: bytes, slot: int, batch: WriteBatch
) -> dict[str, Any]:
    """Apply one encoded ``ItemWrite``: stage its writes into ``batch``, return its result.

    ``view`` must show the writes of the slot's earlier commands (a ``SlotOverlay``). ``slot``
    is the slot being applied (kept for future use: time-to-live and stream records).
    """
    try:
        write = decode_item_write(command)
    except Exception as exc:  # a malformed command is a bug upstream; never stop the replica
        return {"error": _internal(exc).to_wire(), "ops": []}
    results: list[dict[str, Any]] = []
    committed: dict[bytes, bytes | None] = {}
    for op in write.ops:
        staging = _Staging(_Committed(view, committed), keys)
        result = _apply_op_safely(op, staging)
        if "error" not in result:
            committed.update(staging.writes)
        results.append(result)
    if write.atomic and any("error" in result for result in results):
        committed.clear()
    for data_key, value in committed.items():
        if value is None:
            batch.delete(data_key)
        else:
            batch.put(data_key, value)
    return {"ops": results}


class _Committed(ReadView):
    """``view`` plus the writes of the command's earlier successful ops."""

    def __init__(self, view: ReadView, writes: dict[bytes, bytes | None]) -> None:
        self.view = view
        self.writes = writes

    def get(self, key: bytes) -> bytes | None:
        return self.writes[key] if key in self.writes else self.view.get(key)

    def multi_get(self, keys: Sequence[bytes]) -> list[bytes | None]:
        return [self.get(key) for key in keys]

    def scan(self, start: bytes, end: bytes | None = None, **kwargs: Any) -> Iterator[Any]:
        raise NotImplementedError("item writes only read single items")


def _internal(exc: BaseException) -> InternalServerError:
    # Deterministic text (no addresses, no tracebacks): every replica must return the same bytes.
    return InternalServerError(f"Internal error applying an item write: {type(exc).__name__}")


def _apply_op_safely(op: ItemOp, staging: _Staging) -> dict[str, Any]:
    sizes: dict[str, Any] = {"old_size": None, "new_size": None}
    try:
        return _apply_op(op, staging, sizes)
    except ClientError as err:
        staging.writes.clear()
        return {**sizes, "error": err.to_wire()}
    except Exception as exc:
        staging.writes.clear()
        return {**sizes, "error": _internal(exc).to_wire()}


def _apply_op(op: ItemOp, staging: _Staging, sizes: dict[str, Any]) -> dict[str, Any]:
    old = staging.old_item(op.storage_key)
    sizes["old_size"] = item_size(old) if old is not None else None
    _check_condition(op, old)
    attributes: Item | None
    if isinstance(op, StoredPutOp):  # size-checked and encoded at the router
        sizes["new_size"] = op.size_bytes
        staging.stage_stored(op.storage_key, op.stored)
        result = dict(sizes)
        if op.return_values == "ALL_OLD" and old:
            result["attributes"] = old
        return result
    if isinstance(op, PutItemOp):
        new: Item | None = op.item
        attributes = old if op.return_values == "ALL_OLD" else None
    elif isinstance(op, DeleteItemOp):
        new = None
        attributes = old if op.return_values == "ALL_OLD" else None
    else:
        new, attributes = _updated(op, old)
        if new is not None and item_size(new) > ITEM_SIZE_MAX_BYTES:
            raise ValidationException(ITEM_SIZE_TO_UPDATE_EXCEEDED)
    sizes["new_size"] = item_size(new) if new is not None else None
    if old is not None or new is not None:  # deleting or updating nothing writes nothing
        staging.stage(op.storage_key, new)
    result = dict(sizes)
    if attributes:
        result["attributes"] = attributes
    return result


def _check_condition(op: ItemOp, old: Item | None) -> None:
    if op.condition is None:
        return
    if condition_predicate(op.condition)(old or {}):
        return
    extra = None
    if op.return_values_on_condition_check_failure == "ALL_OLD" and old is not None:
        extra = {"Item": old}
    raise ConditionalCheckFailedException(CONDITIONAL_FAILED, extra=extra)


def _updated(op: UpdateItemOp, old: Item | None) -> tuple[Item | None, Item | None]:
    """The item after an UpdateItem and its return values.

    An absent item is created from the key, unless every action of the update only deletes
    (REMOVE, DELETE from a set): there is then nothing to delete and nothing is written
    (DynamoDB's AttributeUpdates DELETE on a missing item: "Nothing happens"; the same holds for
    REMOVE, as ScyllaDB's tests observed against DynamoDB). No update at all creates the item.
    """
    paths: tuple[Any, ...] = ()
    if op.update is None:
        new: Item | None = dict(old) if old is not None else {}
    else:
        update = decode_update(op.update)
        if old is None and update.only_deletes:
            return None, None
        try:
            result = apply_update(update.tree, old, {}, update.values)
        except ValidationException as err:
            if update.legacy and err.message == INCORRECT_DATA_TYPE:
                raise ValidationException(LEGACY_TYPE_MISMATCH) from None
            raise
        new, paths = result.item, result.updated_paths
    if old is None:
        new = {**op.key, **new}
    rv = op.return_values
    if rv == "ALL_NEW":
        return new, new
    if rv == "UPDATED_NEW":
        return new, project_paths(new, paths)
    if rv == "ALL_OLD":
        return new, old
    if rv == "UPDATED_OLD":
        return new, project_paths(old, paths) if old is not None else None
    return new, None
