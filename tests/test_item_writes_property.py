"""Property: random conditional puts/updates/deletes agree with a plain dict model.

Two paths are checked against the same model: the async operations over 1-3 partitions (one
command per slot), and planned commands grouped several to a slot on one partition (so later
commands of a slot must see earlier ones through the slot overlay).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from raydynamo.api.errors import ConditionalCheckFailedException
from raydynamo.operations.write_plan import plan_delete_item, plan_put_item, plan_update_item
from raydynamo.operations.writes import delete_item, put_item, update_item
from raydynamo.partition.item_writes import ItemWrite, encode_item_write
from tests.test_op_writes_support import new_world, run

Item = dict[str, Any]

CONDITIONS = (
    None,
    "attribute_exists(pk)",
    "attribute_not_exists(pk)",
    "attribute_exists(n)",
    "n = :v",
    "n < :v",
    "NOT n = :v",
)


@dataclass(frozen=True)
class Op:
    kind: str  # put | add | remove | delete
    pk: str
    condition: str | None
    v: int
    n: int | None

    def request(self) -> dict[str, Any]:
        request: dict[str, Any] = {"TableName": "hash"}
        values: dict[str, Any] = {}
        if self.kind == "put":
            item: Item = {"pk": {"S": self.pk}}
            if self.n is not None:
                item["n"] = {"N": str(self.n)}
            request |= {"Item": item, "ReturnValues": "ALL_OLD"}
        else:
            request["Key"] = {"pk": {"S": self.pk}}
        if self.kind == "add":
            request |= {"UpdateExpression": "ADD n :d", "ReturnValues": "ALL_NEW"}
            values[":d"] = {"N": str(self.n or 1)}
        elif self.kind == "remove":
            request |= {"UpdateExpression": "REMOVE n", "ReturnValues": "UPDATED_OLD"}
        elif self.kind == "delete":
            request["ReturnValues"] = "ALL_OLD"
        if self.condition is not None:
            request["ConditionExpression"] = self.condition
            if ":v" in self.condition:
                values[":v"] = {"N": str(self.v)}
        if values:
            request["ExpressionAttributeValues"] = values
        return request


ops_strategy = st.lists(
    st.builds(
        Op,
        kind=st.sampled_from(["put", "add", "remove", "delete"]),
        pk=st.sampled_from(["a", "b"]),
        condition=st.sampled_from(CONDITIONS),
        v=st.integers(0, 2),
        n=st.one_of(st.none(), st.integers(-1, 2)),
    ),
    min_size=5,
    max_size=40,
)


def _holds(condition: str | None, item: Item | None, v: int) -> bool:
    n = Decimal(item["n"]["N"]) if item is not None and "n" in item else None
    return {
        None: True,
        "attribute_exists(pk)": item is not None,
        "attribute_not_exists(pk)": item is None,
        "attribute_exists(n)": n is not None,
        "n = :v": n is not None and n == v,
        "n < :v": n is not None and n < v,
        "NOT n = :v": not (n is not None and n == v),
    }[condition]


def model_step(state: dict[str, Item], op: Op) -> tuple[str, Item | None]:
    """('ok', Attributes or None) or ('failed', None); mutates ``state``."""
    old = state.get(op.pk)
    if not _holds(op.condition, old, op.v):
        return "failed", None
    key = {"pk": {"S": op.pk}}
    if op.kind == "put":
        state[op.pk] = op.request()["Item"]
        return "ok", old
    if op.kind == "delete":
        state.pop(op.pk, None)
        return "ok", old
    if op.kind == "remove" and old is None:
        return "ok", None  # an update that only deletes does not create the item
    new = dict(old) if old is not None else dict(key)
    if op.kind == "add":
        total = Decimal(new["n"]["N"]) if "n" in new else Decimal(0)
        new["n"] = {"N": str(total + (op.n or 1))}
        state[op.pk] = new
        return "ok", new
    removed = new.pop("n", None)
    state[op.pk] = new
    return "ok", {"n": removed} if removed is not None else None


OPERATIONS = {"put": put_item, "add": update_item, "remove": update_item, "delete": delete_item}
PLANNERS = {
    "put": plan_put_item,
    "add": plan_update_item,
    "remove": plan_update_item,
    "delete": plan_delete_item,
}


def _stored_state(transport: Any) -> dict[str, Item]:
    return {item["pk"]["S"]: item for item in transport.all_items("hash")}


@settings(max_examples=150, deadline=None)
@given(ops=ops_strategy, partitions=st.integers(1, 3))
def test_operations_agree_with_a_dict_model(ops: list[Op], partitions: int) -> None:
    catalog, transport = new_world(partitions)
    model: dict[str, Item] = {}
    for op in ops:
        expected = model_step(model, op)
        try:
            response = run(OPERATIONS[op.kind](op.request(), catalog, transport))
            got = ("ok", response.get("Attributes"))
        except ConditionalCheckFailedException:
            got = ("failed", None)
        assert got == expected, op
    assert _stored_state(transport) == model


@settings(max_examples=150, deadline=None)
@given(ops=ops_strategy, cuts=st.lists(st.integers(1, 6), max_size=30))
def test_commands_sharing_a_slot_agree_with_the_model(ops: list[Op], cuts: list[int]) -> None:
    catalog, transport = new_world(partitions=1)
    (partition,) = catalog.partitions("hash")
    model: dict[str, Item] = {}
    expected = [model_step(model, op) for op in ops]
    commands = []
    for index, op in enumerate(ops):
        plan = PLANNERS[op.kind](op.request(), catalog)
        write = ItemWrite(index.to_bytes(4, "big"), plan.schema.key, (plan.op,))
        commands.append(encode_item_write(write))
    results: list[dict[str, Any]] = []
    position = 0
    for size in [*cuts, len(commands)]:
        if position >= len(commands):
            break
        chunk = tuple(commands[position : position + size])
        results.extend(transport.apply(partition.partition_id, chunk))
        position += len(chunk)
    got = []
    for result in results:
        (op_result,) = result["ops"]
        if "error" in op_result:
            assert op_result["error"]["code"] == "ConditionalCheckFailedException"
            got.append(("failed", None))
        else:
            got.append(("ok", op_result.get("attributes")))
    assert got == expected
    assert _stored_state(transport) == model
