"""The partition-side read executor: gets, query ranges, scans, limits, filters, the wire forms."""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import given, settings
from hypothesis import strategies as st

from raydynamo.api.expressions import (
    SortKeyCondition,
    bind_condition,
    compile_request,
    translate_filter,
)
from raydynamo.api.expressions.wire import decode_condition, encode_condition
from raydynamo.api.schema import KeySchema, encode_item, key_from_storage_key, storage_key
from raydynamo.api.sizes import item_size
from raydynamo.api.values import canonicalize_item
from raydynamo.partition.item_reads import (
    GetRead,
    GetResult,
    PageOptions,
    PageResult,
    QueryRead,
    ScanRead,
    execute_read,
    query_bounds,
)
from raydynamo.partition.keys import PartitionKeys
from raydynamo.storage.engine import WriteBatch
from raydynamo.storage.keycodec import key_hash
from raydynamo.storage.memory import MemoryEngine

KEY = KeySchema("pk", "S", "sk", "N")
KEYS = PartitionKeys("p0")


def load(items: list[dict[str, Any]], key: KeySchema = KEY) -> MemoryEngine:
    engine = MemoryEngine()
    batch = WriteBatch()
    for item in items:
        item = canonicalize_item(item)
        batch.put(KEYS.data(storage_key(key, item)), encode_item(item))
    engine.write(batch, sync=False)
    return engine


def run(engine: MemoryEngine, request: Any) -> dict[str, Any]:
    wire = msgpack.unpackb(msgpack.packb(request.to_wire(), use_bin_type=True), raw=False)
    return execute_read(engine, KEYS, wire)


def item(pk: str, sk: int, **extra: Any) -> dict[str, Any]:
    out = {"pk": {"S": pk}, "sk": {"N": str(sk)}}
    out.update(extra)
    return out


COLLECTION = [item("a", n, v={"N": str(n % 3)}) for n in range(-5, 6)] + [item("b", 1)]


def query(**options: Any) -> QueryRead:
    sort = options.pop("sort", None)
    forward = options.pop("forward", True)
    return QueryRead(KEY, {"S": "a"}, sort, forward, PageOptions(**options))


def sks(result: dict[str, Any]) -> list[int]:
    return [int(i["sk"]["N"]) for i in result["items"]]


# --- get -----------------------------------------------------------------------------------------


def test_get_returns_items_in_key_order_with_full_sizes() -> None:
    engine = load(COLLECTION)
    keys = (storage_key(KEY, item("a", 2)), storage_key(KEY, item("zz", 0)))
    result = GetResult.from_wire(run(engine, GetRead(keys)))
    assert result.items[0] == canonicalize_item(item("a", 2, v={"N": "2"}))
    assert result.items[1] is None
    assert result.sizes == (item_size(result.items[0]), 0)


def test_get_projects_but_sizes_the_whole_item() -> None:
    engine = load(COLLECTION)
    keys = (storage_key(KEY, item("a", 2)),)
    result = GetResult.from_wire(run(engine, GetRead(keys, (("v",),))))
    assert result.items == ({"v": {"N": "2"}},)
    assert result.sizes[0] == item_size(canonicalize_item(item("a", 2, v={"N": "2"})))


# --- query ---------------------------------------------------------------------------------------


def test_query_reads_one_collection_in_both_directions() -> None:
    engine = load(COLLECTION)
    assert sks(run(engine, query())) == list(range(-5, 6))
    assert sks(run(engine, query(forward=False))) == list(range(5, -6, -1))


def test_query_limit_counts_items_read_before_the_filter() -> None:
    engine = load(COLLECTION)
    condition, names, values = _filter("v = :zero", {":zero": {"N": "0"}})
    wire = encode_condition(condition, names, values)
    page = PageResult.from_wire(run(engine, query(limit=4, filter=wire)))
    assert page.scanned_count == 4
    assert [int(i["sk"]["N"]) for i in page.items] == [-3]  # -5..-2: only -3 % 3 == 0
    assert page.count == 1
    assert page.last_key == {"pk": {"S": "a"}, "sk": {"N": "-2"}}


def test_query_stops_after_the_item_that_reaches_the_byte_budget() -> None:
    engine = load(COLLECTION)
    one = item_size(canonicalize_item(item("a", -5, v={"N": "-2"})))
    page = PageResult.from_wire(run(engine, query(size_max_bytes=one + 1)))
    assert page.scanned_count == 2
    assert page.last_key == {"pk": {"S": "a"}, "sk": {"N": "-4"}}


def test_query_exclusive_start_in_both_directions() -> None:
    engine = load(COLLECTION)
    start = storage_key(KEY, item("a", 0))
    assert sks(run(engine, query(exclusive_start=start))) == [1, 2, 3, 4, 5]
    assert sks(run(engine, query(exclusive_start=start, forward=False))) == [-1, -2, -3, -4, -5]


def test_query_count_only_returns_no_items() -> None:
    engine = load(COLLECTION)
    page = PageResult.from_wire(run(engine, query(count_only=True)))
    assert (page.items, page.count, page.scanned_count, page.last_key) == ((), 11, 11, None)


def test_a_page_ending_exactly_on_the_limit_still_has_a_last_key() -> None:
    engine = load(COLLECTION)
    page = PageResult.from_wire(run(engine, query(limit=11)))
    assert page.scanned_count == 11
    assert page.last_key == {"pk": {"S": "a"}, "sk": {"N": "5"}}


SORT_VALUES = st.integers(-40, 40)
OPERATORS = st.sampled_from(["EQ", "LT", "LE", "GT", "GE", "BETWEEN"])


@settings(max_examples=200, deadline=None)
@given(
    values=st.sets(SORT_VALUES, max_size=25),
    operator=OPERATORS,
    a=SORT_VALUES,
    b=SORT_VALUES,
)
def test_query_bounds_select_exactly_the_matching_sort_keys(
    values: set[int], operator: str, a: int, b: int
) -> None:
    operands = (
        ({"N": str(min(a, b))}, {"N": str(max(a, b))})
        if operator == "BETWEEN"
        else ({"N": str(a)},)
    )
    condition = SortKeyCondition(operator, operands)
    start, end = query_bounds({"S": "a"}, condition)
    keys = sorted(storage_key(KEY, item("a", v)) for v in values)
    inside = [k for k in keys if k >= start and (end is None or k < end)]
    expected = [
        storage_key(KEY, item("a", v)) for v in sorted(values) if condition.matches({"N": str(v)})
    ]
    assert inside == expected


@settings(max_examples=200, deadline=None)
@given(
    values=st.sets(st.text(alphabet="ab\x00\xff\u00e9", max_size=4), max_size=20),
    prefix=st.text(alphabet="ab\x00\xff\u00e9", min_size=1, max_size=3),
)
def test_begins_with_bounds_select_exactly_the_prefixed_strings(
    values: set[str], prefix: str
) -> None:
    key = KeySchema("pk", "S", "sk", "S")
    condition = SortKeyCondition("BEGINS_WITH", ({"S": prefix},))
    start, end = query_bounds({"S": "p"}, condition)
    rows = {storage_key(key, {"pk": {"S": "p"}, "sk": {"S": v}}): v for v in values}
    inside = {v for k, v in rows.items() if k >= start and (end is None or k < end)}
    assert inside == {v for v in values if v.startswith(prefix)}


# --- scan ----------------------------------------------------------------------------------------


def test_scan_keeps_only_the_hash_range_and_counts_only_what_it_keeps() -> None:
    items = [item(f"k{i}", 0) for i in range(40)]
    engine = load(items)
    middle = 1 << 63
    options = PageOptions()
    low = PageResult.from_wire(run(engine, ScanRead(KEY, 0, middle, options)))
    high = PageResult.from_wire(run(engine, ScanRead(KEY, middle, 1 << 64, options)))
    assert low.scanned_count + high.scanned_count == 40
    assert all(key_hash(i["pk"]) < middle for i in low.items)
    assert all(key_hash(i["pk"]) >= middle for i in high.items)


def test_scan_continues_after_its_exclusive_start() -> None:
    items = [item(f"k{i}", 0) for i in range(10)]
    engine = load(items)
    first = PageResult.from_wire(run(engine, ScanRead(KEY, 0, 1 << 64, PageOptions(limit=3))))
    assert first.last_key is not None
    rest_options = PageOptions(exclusive_start=storage_key(KEY, first.last_key))
    rest = PageResult.from_wire(run(engine, ScanRead(KEY, 0, 1 << 64, rest_options)))
    assert first.scanned_count + rest.scanned_count == 10
    assert rest.last_key is None
    seen = [i["pk"]["S"] for i in first.items + rest.items]
    assert sorted(seen) == sorted(f"k{i}" for i in range(10)) and len(set(seen)) == 10


def test_last_key_decodes_from_the_storage_key() -> None:
    key = KeySchema("pk", "B", "sk", "B")
    row = {"pk": {"B": b"\x00\x01"}, "sk": {"B": b"\xff\x00"}}
    assert key_from_storage_key(key, storage_key(key, row)) == row


# --- conditions on the wire and malformed requests -----------------------------------------------


def _filter(text: str, values: dict[str, Any], names: dict[str, str] | None = None) -> Any:
    request: dict[str, Any] = {"FilterExpression": text, "ExpressionAttributeValues": values}
    if names:
        request["ExpressionAttributeNames"] = names
    compiled = compile_request("Scan", request)
    return compiled.filter, compiled.names, compiled.values


ROWS = [
    {"a": {"N": "1"}, "s": {"S": "hello"}, "m": {"M": {"x.y": {"L": [{"N": "5"}]}}}},
    {"a": {"N": "7"}, "s": {"S": "help"}, "l": {"L": [{"S": "q"}, {"N": "2"}]}},
    {"b": {"BOOL": True}, "ss": {"SS": ["x", "y"]}},
]
FILTERS = [
    ("a BETWEEN :lo AND :hi", {":lo": {"N": "0"}, ":hi": {"N": "5"}}, None),
    (
        "NOT (a IN (:lo, :hi)) OR begins_with(s, :p)",
        {":lo": {"N": "1"}, ":hi": {"N": "2"}, ":p": {"S": "hel"}},
        None,
    ),
    ("size(s) > :n AND contains(ss, :x)", {":n": {"N": "3"}, ":x": {"S": "x"}}, None),
    ("#m.#k[0] = :five", {":five": {"N": "5"}}, {"#m": "m", "#k": "x.y"}),
    ("attribute_type(l, :t) AND l[1] <> :v", {":t": {"S": "L"}, ":v": {"N": "3"}}, None),
    ("attribute_not_exists(a) AND attribute_exists(b)", {}, None),
]


def test_encoded_filters_decide_exactly_as_the_original() -> None:
    for text, values, names in FILTERS:
        if not values:
            compiled = compile_request("Scan", {"FilterExpression": text})
            condition, names_map, values_map = compiled.filter, compiled.names, compiled.values
        else:
            condition, names_map, values_map = _filter(text, values, names)
        wire = msgpack.unpackb(
            msgpack.packb(encode_condition(condition, names_map, values_map), use_bin_type=True),
            raw=False,
        )
        decoded, decoded_values = decode_condition(wire)
        original = bind_condition(condition, names_map, values_map)
        again = bind_condition(decoded, {}, decoded_values)
        assert [original(r) for r in ROWS] == [again(r) for r in ROWS], text


def test_legacy_filters_travel_too() -> None:
    legacy = translate_filter(
        {"s": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "lo"}]}}
    )
    decoded, values = decode_condition(encode_condition(legacy.tree, legacy.names, legacy.values))
    predicate = bind_condition(decoded, {}, values)
    assert [predicate(r) for r in ROWS] == [False, True, True]


def test_a_malformed_request_is_an_error_result_not_an_exception() -> None:
    engine = load(COLLECTION)
    for request in ({"kind": "nope"}, {"kind": "query"}, {"kind": "get", "keys": [1]}, {}):
        result = execute_read(engine, KEYS, request)
        assert result["error"]["code"] == "InternalServerError"
