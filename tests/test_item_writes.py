"""The partition side of item writes: encoding, slot overlay, atomicity, determinism, safety."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from raydynamo.api.expressions import compile_expressions
from raydynamo.api.expressions.wire import (
    WireCondition,
    WireUpdate,
    encode_condition,
    encode_update,
)
from raydynamo.api.schema import KeySchema, decode_item, encode_item, storage_key
from raydynamo.api.sizes import item_size
from raydynamo.partition.commands import KIND_WRITE, Put, Write, encode_write
from raydynamo.partition.item_writes import (
    ITEM_WRITE_FORMAT,
    KIND_ITEM_WRITE,
    DeleteItemOp,
    ItemWrite,
    PutItemOp,
    SlotOverlay,
    StoredPutOp,
    UpdateItemOp,
    apply_item_write,
    command_header,
    decode_item_write,
    encode_item_write,
)
from raydynamo.partition.keys import PartitionKeys
from raydynamo.partition.state_machine import PartitionStateMachine
from raydynamo.storage.engine import WriteBatch, prefix_end
from raydynamo.storage.memory import MemoryEngine

SCHEMA = KeySchema("pk", "S")
KEYS = PartitionKeys("p0")


def key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}}


def skey(pk: str) -> bytes:
    return storage_key(SCHEMA, key(pk))


def command(request_id: bytes, *ops: Any, atomic: bool = False) -> bytes:
    return encode_item_write(ItemWrite(request_id, SCHEMA, tuple(ops), atomic))


def stored(engine: MemoryEngine, pk: str) -> dict[str, Any] | None:
    raw = engine.get(KEYS.data(skey(pk)))
    return decode_item(raw) if raw is not None else None


def apply(engine: MemoryEngine, slot: int, *commands: bytes) -> list[dict[str, Any]]:
    machine = PartitionStateMachine(KEYS)
    batch, results = machine.apply_slot(engine, slot, tuple(commands))
    engine.write(batch, sync=False)
    return [result for _, result in results]


def cond(text: str, **values: Any) -> WireCondition:
    """A ConditionExpression bound as the router binds it (``:name`` values by keyword)."""
    bound = {f":{name}": value for name, value in values.items()}
    compiled = compile_expressions({"ConditionExpression": text}, values=bound or None)
    assert compiled.condition is not None
    return encode_condition(compiled.condition, compiled.names, compiled.values)


def upd(text: str, **values: Any) -> WireUpdate:
    """An UpdateExpression bound as the router binds it."""
    bound = {f":{name}": value for name, value in values.items()}
    compiled = compile_expressions({"UpdateExpression": text}, values=bound or None)
    assert compiled.update is not None
    return encode_update(compiled.update, compiled.names, compiled.values)


NOT_EXISTS = cond("attribute_not_exists(pk)")
EXISTS = cond("attribute_exists(pk)")


def test_encoding_round_trips_every_op_kind() -> None:
    condition = cond("a = :v", v={"B": b"\x00\x01"})
    write = ItemWrite(
        b"rid",
        KeySchema("pk", "S", "sk", "N"),
        (
            PutItemOp(skey("a"), {**key("a"), "x": {"L": [{"N": "1"}]}}, condition),
            UpdateItemOp(
                skey("b"),
                key("b"),
                upd("SET b = :v", v={"N": "1"}),
                condition,
                "UPDATED_NEW",
                "ALL_OLD",
            ),
            DeleteItemOp(skey("c"), cond("attribute_not_exists(a)"), "ALL_OLD"),
        ),
        atomic=True,
    )
    assert decode_item_write(encode_item_write(write)) == write
    assert command_header(encode_item_write(write)) == (KIND_ITEM_WRITE, b"rid")


def test_raw_write_commands_keep_their_header() -> None:
    raw = encode_write(Write(b"r1", (Put(b"k", b"v"),)))
    assert command_header(raw) == (KIND_WRITE, b"r1")


def test_later_commands_of_a_slot_see_earlier_ones() -> None:
    engine = MemoryEngine()
    results = apply(
        engine,
        1,
        command(b"r1", PutItemOp(skey("a"), key("a"), NOT_EXISTS)),
        command(b"r2", PutItemOp(skey("a"), key("a"), NOT_EXISTS)),
        command(b"r3", DeleteItemOp(skey("a"), EXISTS, "ALL_OLD")),
        command(b"r4", DeleteItemOp(skey("a"), EXISTS)),
    )
    assert "error" not in results[0]["ops"][0]
    assert results[1]["ops"][0]["error"]["code"] == "ConditionalCheckFailedException"
    assert results[2]["ops"][0]["attributes"] == key("a")
    assert results[3]["ops"][0]["error"]["code"] == "ConditionalCheckFailedException"
    assert stored(engine, "a") is None


def test_ops_of_one_command_see_each_other() -> None:
    engine = MemoryEngine()
    add = upd("ADD n :one", one={"N": "1"})
    (result,) = apply(
        engine,
        1,
        command(
            b"r", UpdateItemOp(skey("a"), key("a"), add), UpdateItemOp(skey("a"), key("a"), add)
        ),
    )
    assert [op.get("error") for op in result["ops"]] == [None, None]
    assert stored(engine, "a") == {**key("a"), "n": {"N": "2"}}


@pytest.mark.parametrize(("atomic", "first_written"), [(False, True), (True, False)])
def test_a_failed_op_writes_nothing_and_cancels_an_atomic_command(
    atomic: bool, first_written: bool
) -> None:
    engine = MemoryEngine()
    (result,) = apply(
        engine,
        1,
        command(
            b"r",
            PutItemOp(skey("a"), key("a")),
            PutItemOp(skey("b"), key("b"), EXISTS),
            atomic=atomic,
        ),
    )
    assert "error" not in result["ops"][0]
    assert result["ops"][1]["error"]["code"] == "ConditionalCheckFailedException"
    assert (stored(engine, "a") is not None) is first_written
    assert stored(engine, "b") is None


def test_replayed_request_id_returns_the_first_result() -> None:
    engine = MemoryEngine()
    cmd = command(
        b"same",
        UpdateItemOp(
            skey("a"),
            key("a"),
            upd("ADD n :one", one={"N": "1"}),
        ),
    )
    (first,) = apply(engine, 1, cmd)
    (again,) = apply(engine, 2, cmd)
    assert first == again
    assert stored(engine, "a") == {**key("a"), "n": {"N": "1"}}


def test_applying_is_deterministic() -> None:
    commands = (
        command(b"r1", PutItemOp(skey("a"), {**key("a"), "s": {"SS": ["x", "y"]}})),
        command(
            b"r2",
            UpdateItemOp(
                skey("a"),
                key("a"),
                upd(
                    "ADD s :s SET m = :m",
                    s={"SS": ["z"]},
                    m={"M": {"b": {"N": "1"}, "a": {"N": "2"}}},
                ),
                return_values="ALL_NEW",
            ),
        ),
    )
    outputs = []
    for _ in range(2):
        engine = MemoryEngine()
        batch, results = PartitionStateMachine(KEYS).apply_slot(engine, 1, commands)
        outputs.append((batch.ops, msgpack.packb([r for _, r in results], use_bin_type=True)))
    assert outputs[0] == outputs[1]


def test_malformed_command_is_an_internal_error_result_not_a_crash() -> None:
    engine = MemoryEngine()
    bad = msgpack.packb(
        [
            KIND_ITEM_WRITE,
            b"rid",
            ITEM_WRITE_FORMAT,
            ["pk", "S", None, None],
            False,
            [[9, b"k", {}]],
        ]
    )
    (result,) = apply(engine, 1, bad)
    assert result["error"]["code"] == "InternalServerError"
    assert list(engine.scan(KEYS.data_prefix, prefix_end(KEYS.data_prefix))) == []


def test_corrupt_stored_item_fails_only_its_op() -> None:
    engine = MemoryEngine()
    batch = WriteBatch()
    batch.put(KEYS.data(skey("a")), b"\xc1not msgpack")
    engine.write(batch, sync=False)
    (result,) = apply(engine, 1, command(b"r", PutItemOp(skey("a"), key("a"), EXISTS)))
    assert result["ops"][0]["error"]["code"] == "InternalServerError"


def test_apply_item_write_reports_sizes() -> None:
    engine = MemoryEngine()
    batch = WriteBatch()
    result = apply_item_write(
        engine, KEYS, command(b"r", PutItemOp(skey("a"), {**key("a"), "v": {"S": "xy"}})), 1, batch
    )
    assert result == {"ops": [{"old_size": None, "new_size": 6}]}
    assert batch.ops == [
        (WriteBatch.PUT, KEYS.data(skey("a")), encode_item({**key("a"), "v": {"S": "xy"}}))
    ]


def test_a_put_of_known_size_travels_stored_and_applies_as_the_item_form_does() -> None:
    """A planner that knows the item's size sends it in its stored encoding: the replica
    stores those bytes as they came, with the same results (sizes, ALL_OLD, conditions) and
    the same batch as the item form."""
    item = {**key("a"), "v": {"S": "xy"}, "n": {"N": "7"}}
    first = {**key("a"), "old": {"BOOL": True}}
    outputs = []
    for size in (None, item_size(item)):
        engine = MemoryEngine()
        apply(engine, 1, command(b"r0", PutItemOp(skey("a"), first)))
        ops = (
            PutItemOp(skey("a"), item, EXISTS, "ALL_OLD", size_bytes=size),
            PutItemOp(skey("b"), key("b"), EXISTS, size_bytes=None if size is None else 3),
        )
        encoded = command(b"r1", *ops)
        if size is not None:
            decoded = decode_item_write(encoded).ops
            assert decoded[0] == StoredPutOp(skey("a"), encode_item(item), 9, EXISTS, "ALL_OLD")
            assert encode_item_write(decode_item_write(encoded)) == encoded
        batch = WriteBatch()
        result = apply_item_write(engine, KEYS, encoded, 2, batch)
        outputs.append((result, batch.ops))
    assert outputs[0] == outputs[1]
    result, ops = outputs[0]
    assert result["ops"][0] == {"old_size": 7, "new_size": 9, "attributes": first}
    assert result["ops"][1]["error"]["code"] == "ConditionalCheckFailedException"
    assert ops == [(WriteBatch.PUT, KEYS.data(skey("a")), encode_item(item))]


@pytest.mark.parametrize("fields", [{"enc": "not bytes", "sz": 3}, {"enc": b"\x80", "sz": -1}])
def test_malformed_stored_put_is_an_internal_error_result(fields: dict[str, Any]) -> None:
    engine = MemoryEngine()
    bad = msgpack.packb(
        [KIND_ITEM_WRITE, b"rid", ITEM_WRITE_FORMAT, SCHEMA.to_wire(), False, [[1, b"k", fields]]]
    )
    (result,) = apply(engine, 1, bad)
    assert result["error"]["code"] == "InternalServerError"
    assert list(engine.scan(KEYS.data_prefix, prefix_end(KEYS.data_prefix))) == []


def test_a_command_of_the_previous_format_still_applies() -> None:
    """A log written before stored-form puts (format 2) applies after the upgrade."""
    engine = MemoryEngine()
    old = msgpack.packb(
        [KIND_ITEM_WRITE, b"rid", 2, SCHEMA.to_wire(), False, [[1, skey("a"), {"item": key("a")}]]],
        use_bin_type=True,
    )
    (result,) = apply(engine, 1, old)
    assert result["ops"] == [{"old_size": None, "new_size": item_size(key("a"))}]
    assert stored(engine, "a") == key("a")


def test_slot_overlay_reads_and_scans_through_pending_writes() -> None:
    engine = MemoryEngine()
    base = WriteBatch()
    for k in (b"a", b"b", b"c"):
        base.put(k, k.upper())
    engine.write(base, sync=False)
    pending = WriteBatch()
    overlay = SlotOverlay(engine, pending)
    assert overlay.get(b"a") == b"A"
    pending.put(b"a", b"1")
    pending.delete(b"b")
    pending.put(b"d", b"D")
    assert overlay.multi_get([b"a", b"b", b"d"]) == [b"1", None, b"D"]
    pending.delete_range(b"c", b"e")
    pending.put(b"cc", b"CC")
    assert overlay.get(b"c") is None
    assert overlay.get(b"d") is None
    assert list(overlay.scan(b"a")) == [(b"a", b"1"), (b"cc", b"CC")]
    assert list(overlay.scan(b"a", reverse=True, limit=1)) == [(b"cc", b"CC")]
