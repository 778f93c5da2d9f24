"""Property: paging a Query with random Limits returns exactly the unpaged result, in order.

For random item collections with number, string or binary sort keys, random key conditions,
filters, directions and page sizes: following LastEvaluatedKey from page to page yields the same
items (and the same Count and ScannedCount totals) as one unpaged Query, and that result is the
collection's items that satisfy the key condition, ordered as DynamoDB orders sort keys (numbers
by value, strings by UTF-8 bytes, binaries by bytes), reversed when ScanIndexForward is false.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from raydynamo.api.expressions import SortKeyCondition
from raydynamo.operations.query import query
from tests.test_op_reads_support import World

TABLES = {"N": "numbers", "S": "composite", "B": "binary"}
PAGES_MAX = 200

NUMBERS = st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False).map(
    lambda d: {"N": str(d)}
)
STRINGS = st.text(min_size=1, max_size=4).map(lambda s: {"S": s})
BINARIES = st.binary(min_size=1, max_size=3).map(lambda b: {"B": b})
SORT_VALUES = {"N": NUMBERS, "S": STRINGS, "B": BINARIES}


def order_key(value: dict[str, Any]) -> Any:
    ((tag, payload),) = value.items()
    if tag == "N":
        return Decimal(payload)
    return payload.encode("utf-8") if tag == "S" else payload


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    tag = draw(st.sampled_from(["N", "S", "B"]))
    values = draw(st.lists(SORT_VALUES[tag], max_size=25, unique_by=order_key))
    pk = {"B": b"p"} if tag == "B" else {"S": "p"}
    other = {"B": b"q"} if tag == "B" else {"S": "q"}
    operators = ["EQ", "LT", "LE", "GT", "GE", "BETWEEN"] + (["BEGINS_WITH"] if tag != "N" else [])
    operator = draw(st.none() | st.sampled_from(operators))
    operands: tuple[dict[str, Any], ...] = ()
    if operator == "BETWEEN":
        low, high = sorted(draw(st.lists(SORT_VALUES[tag], min_size=2, max_size=2)), key=order_key)
        operands = (low, high)
    elif operator is not None:
        operands = (draw(SORT_VALUES[tag]),)
    return {
        "tag": tag,
        "pk": pk,
        "other": other,
        "values": values,
        "flags": draw(st.lists(st.integers(0, 2), min_size=len(values), max_size=len(values))),
        "condition": SortKeyCondition(operator, operands) if operator else None,
        "filter": draw(st.none() | st.integers(0, 2)),
        "forward": draw(st.booleans()),
        "limits": draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)),
        "partitions": draw(st.integers(1, 4)),
        "select_count": draw(st.booleans()),
    }


def build_request(scenario: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {":pk": scenario["pk"]}
    text = "pk = :pk"
    condition = scenario["condition"]
    if condition is not None:
        for i, operand in enumerate(condition.values):
            values[f":s{i}"] = operand
        text += (
            " AND "
            + {
                "EQ": "sk = :s0",
                "LT": "sk < :s0",
                "LE": "sk <= :s0",
                "GT": "sk > :s0",
                "GE": "sk >= :s0",
                "BETWEEN": "sk BETWEEN :s0 AND :s1",
                "BEGINS_WITH": "begins_with(sk, :s0)",
            }[condition.operator]
        )
    request: dict[str, Any] = {
        "TableName": TABLES[scenario["tag"]],
        "KeyConditionExpression": text,
        "ScanIndexForward": scenario["forward"],
    }
    if scenario["filter"] is not None:
        request["FilterExpression"] = "flag = :f"
        values[":f"] = {"N": str(scenario["filter"])}
    if scenario["select_count"]:
        request["Select"] = "COUNT"
    request["ExpressionAttributeValues"] = values
    return request


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_paging_a_query_returns_exactly_the_unpaged_result(scenario: dict[str, Any]) -> None:
    world = World(partition_count=scenario["partitions"])
    table = TABLES[scenario["tag"]]
    rows = [
        {"pk": scenario["pk"], "sk": value, "flag": {"N": str(flag)}}
        for value, flag in zip(scenario["values"], scenario["flags"], strict=True)
    ]
    noise = [
        {"pk": scenario["other"], "sk": value, "flag": {"N": "0"}} for value in scenario["values"]
    ]
    world.put(table, rows + noise)
    request = build_request(scenario)

    whole = world.call(query, request)
    assert "LastEvaluatedKey" not in whole

    items: list[dict[str, Any]] = []
    count = scanned = 0
    start = None
    for page_number in range(PAGES_MAX):
        limit = scenario["limits"][page_number % len(scenario["limits"])]
        page_request = {**request, "Limit": limit}
        if start is not None:
            page_request["ExclusiveStartKey"] = start
        page = world.call(query, page_request)
        assert page["ScannedCount"] <= limit
        items += page.get("Items", [])
        count += page["Count"]
        scanned += page["ScannedCount"]
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
    else:
        raise AssertionError("paging did not end")

    assert items == whole.get("Items", [])
    assert (count, scanned) == (whole["Count"], whole["ScannedCount"])

    condition = scenario["condition"]
    in_range = [r for r in rows if condition is None or condition.matches(r["sk"])]
    in_range.sort(key=lambda r: order_key(r["sk"]), reverse=not scenario["forward"])
    assert whole["ScannedCount"] == len(in_range)
    wanted = [
        r
        for r in in_range
        if scenario["filter"] is None or r["flag"]["N"] == str(scenario["filter"])
    ]
    assert whole["Count"] == len(wanted)
    if not scenario["select_count"]:
        assert [order_key(i["sk"]) for i in whole["Items"]] == [order_key(r["sk"]) for r in wanted]
