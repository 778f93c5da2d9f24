"""BatchWriteItem's one-pass check of plain puts accepts and refuses exactly what the full checks
do, with the same errors, canonical items and sizes (``operations.put_items``).

Each generated request is planned twice: as it comes (the fast path takes it when it is plain)
and with the fast path switched off (every check in DynamoDB's order). Requests mix plain and
non-plain values, valid and invalid ones: empty and non-ASCII strings, lone surrogates, numbers
good and bad, bytes and bytearrays, sets, lists, wrong key types, missing keys, duplicates,
oversized items, unknown members and enum values, missing tables.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from raydynamo.api.errors import ClientError
from raydynamo.api.sizes import item_size
from raydynamo.operations import batch_write
from raydynamo.operations.put_items import plain_item
from tests.test_op_writes_support import HASH_KEY, RANGE_KEY, FakeCatalog

TEXT = st.sampled_from(["", "a", "x" * 30, "é", "日本", "\ud800", "a\udc00b", "ok"])
NUMBER = st.sampled_from(["1", "01.50", "-0", "1e3", "1E-130", "1E+126", "x", "", "9" * 39])
SCALAR = st.one_of(
    TEXT.map(lambda s: {"S": s}),
    NUMBER.map(lambda n: {"N": n}),
    st.sampled_from([b"", b"\x00\x01", bytearray(b"ab")]).map(lambda b: {"B": b}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.sampled_from([True, False]).map(lambda b: {"NULL": b}),
    st.sampled_from([{"SS": ["a", "b"]}, {"L": []}, {"S": 5}, {}, {"S": "a", "N": "1"}]),
)
NAME = st.sampled_from(["a", "b", "long" * 3, "é", "", "pk", "sk"])
KEY_VALUE = st.one_of(
    TEXT.map(lambda s: {"S": s}),
    NUMBER.map(lambda n: {"N": n}),
    st.just({"B": b"k"}),
    st.just({"S": "k" * 2049}),
)


@st.composite
def items(draw: Any) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        item["pk"] = draw(KEY_VALUE)
    if draw(st.integers(0, 3)):
        item["sk"] = draw(st.one_of(NUMBER.map(lambda n: {"N": n}), KEY_VALUE))
    for name, value in draw(st.lists(st.tuples(NAME, SCALAR), max_size=4)):
        item.setdefault(name, value)
    if draw(st.integers(0, 30)) == 0:
        item["big"] = {"S": "x" * 410_000}
    return item


@st.composite
def requests(draw: Any) -> dict[str, Any]:
    tables = draw(st.lists(st.sampled_from(["hash", "range", "gone", "x"]), min_size=1, max_size=2))
    request_items: dict[str, Any] = {}
    for table in tables:
        shape = draw(st.integers(0, 20))
        if shape == 0:
            request_items[table] = []
            continue
        writes = [{"PutRequest": {"Item": item}} for item in draw(st.lists(items(), max_size=6))]
        if shape == 1:
            writes.append({"DeleteRequest": {"Key": {"pk": {"S": "a"}}}})
        if shape == 2 and writes:
            writes.append(writes[0])  # a duplicate key
        if shape == 3:
            writes.append({"PutRequest": {"Item": {"pk": {"S": "a"}}, "Extra": 1}})
        request_items[table] = writes or [{"PutRequest": {"Item": {"pk": {"S": "z"}}}}]
    request: dict[str, Any] = {"RequestItems": request_items}
    extra = draw(st.integers(0, 6))
    if extra == 1:
        request["ReturnConsumedCapacity"] = draw(st.sampled_from(["TOTAL", "NONE", "bad"]))
    if extra == 2:
        request["ReturnItemCollectionMetrics"] = draw(st.sampled_from(["SIZE", "all"]))
    if extra == 3:
        request["Unknown"] = 1
    return request


def _catalog() -> FakeCatalog:
    catalog = FakeCatalog()
    catalog.add_table("hash", HASH_KEY, partitions=4)
    catalog.add_table("range", RANGE_KEY, partitions=2)
    return catalog


def _outcome(request: dict[str, Any], catalog: FakeCatalog) -> Any:
    try:
        schemas, planned, capacity = batch_write.plan_batch_write(request, catalog)
    except ClientError as err:
        return ("error", type(err).__name__, err.message)
    ops = [(p.table_name, p.located.storage_key, p.op, p.index) for p in planned]
    return ("ok", sorted(schemas), ops, capacity)


@settings(max_examples=400)
@given(requests())
def test_fast_and_full_paths_agree(request: dict[str, Any]) -> None:
    catalog = _catalog()
    fast = _outcome(request, catalog)
    original = batch_write._plain_request
    batch_write._plain_request = lambda _request: None  # type: ignore[assignment]
    try:
        full = _outcome(request, catalog)
    finally:
        batch_write._plain_request = original  # type: ignore[assignment]
    assert fast == full


@settings(max_examples=300)
@given(items())
def test_a_plain_item_is_canonical_and_sized_as_the_full_path_says(item: dict[str, Any]) -> None:
    plain = plain_item(item)
    if plain is None:
        return
    canonical, size = plain
    assert size == item_size(canonical)
    assert all(len(value) == 1 for value in canonical.values())


def test_the_generated_requests_take_both_paths() -> None:
    find(requests(), lambda r: batch_write._plain_request(r) is not None)
    find(requests(), lambda r: batch_write._plain_request(r) is None)


def test_the_fast_path_is_taken_for_plain_puts() -> None:
    writes = [
        {"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "n": {"N": "01.50"}}}} for i in range(25)
    ]
    puts = batch_write._plain_request({"RequestItems": {"hash": writes}})
    assert puts is not None and len(puts) == 25
    _, planned, _ = batch_write.plan_batch_write({"RequestItems": {"hash": writes}}, _catalog())
    assert planned[0].op.item == {"pk": {"S": "k0"}, "n": {"N": "1.5"}}


@pytest.mark.parametrize(
    "item",
    [
        {"pk": {"S": "a"}, "s": {"SS": ["x"]}},
        {"pk": {"S": "a"}, "é": {"S": "x"}},
        {"pk": {"S": "a"}, "b": {"B": bytearray(b"x")}},
        {"pk": {"S": "a"}, "n": {"N": "not a number"}},
    ],
)
def test_anything_not_plain_takes_the_full_path(item: dict[str, Any]) -> None:
    assert plain_item(item) is None
