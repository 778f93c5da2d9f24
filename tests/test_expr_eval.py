"""Evaluating conditions and projections: one case per documented rule of the developer guide.

"Condition and filter expressions, operators, and functions in DynamoDB" defines comparisons,
BETWEEN, IN, the functions and the logical operators; "Projection expressions" defines what a
projection returns. Behaviour the guide leaves open is pinned to what DynamoDB was observed to do
(noted per case).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raydynamo.api.errors import ValidationException
from raydynamo.api.expressions import (
    bind_condition,
    compile_expressions,
    evaluate_condition,
    project,
    project_paths,
)

ITEM: dict[str, Any] = {
    "id": {"S": "p1"},
    "Price": {"N": "10"},
    "Title": {"S": "Bicycle 123"},
    "Bin": {"B": b"\x01\x02\x03"},
    "InStock": {"BOOL": True},
    "Gone": {"NULL": True},
    "Colors": {"SS": ["Red", "Black"]},
    "Sizes": {"NS": ["1", "2.5"]},
    "Blobs": {"BS": [b"\x00", b"\xff"]},
    "Tags": {"L": [{"S": "a"}, {"N": "7"}, {"M": {"k": {"S": "v"}}}]},
    "Info": {"M": {"Weight": {"N": "3"}, "Parts": {"L": [{"S": "wheel"}, {"S": "seat"}]}}},
    "Unicode": {"S": "é𝄞"},
}


def holds(text: str, item: dict[str, Any] | None = None, **values: dict) -> bool:
    """Compile ``text`` as a FilterExpression with ``values`` and evaluate it on ``item``."""
    names = {"#" + k[1:]: k[1:] for k in values if k.startswith("#")}
    plain = {k: v for k, v in values.items() if k.startswith(":")}
    compiled = compile_expressions(
        {"FilterExpression": text}, names=names or None, values=plain or None
    )
    assert compiled.filter is not None
    return evaluate_condition(compiled.filter, ITEM if item is None else item, compiled.names,
                              compiled.values)  # fmt: skip


N = lambda text: {"N": text}  # noqa: E731
S = lambda text: {"S": text}  # noqa: E731


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        # a = b, a <> b
        ("Price = :v", {":v": N("10")}, True),
        ("Price = :v", {":v": N("10.000")}, True),  # numbers compare by value
        ("Price = :v", {":v": S("10")}, False),  # different types are never equal
        ("Price <> :v", {":v": S("10")}, True),
        ("Price <> :v", {":v": N("10")}, False),
        # <, <=, >, >= on numbers, strings (UTF-8 bytes) and binaries
        ("Price < :v", {":v": N("9.5")}, False),
        ("Price > :v", {":v": N("9.5")}, True),
        ("Price >= :v", {":v": N("10")}, True),
        ("Price <= :v", {":v": N("1e1")}, True),
        ("Title < :v", {":v": S("bicycle")}, True),  # "B" (0x42) sorts before "b" (0x62)
        ("Title > :v", {":v": S("Bicycle 12")}, True),
        ("Bin < :v", {":v": {"B": b"\x01\x03"}}, True),
        ("Bin > :v", {":v": {"B": b"\x01\x02"}}, True),
        # ordering across types, or on non-scalars, is false rather than an error
        ("Price < :v", {":v": S("99")}, False),
        ("Colors < :v", {":v": S("z")}, False),  # the item's SS: false (a constant SS: refused)
        # sets compare as sets; lists and maps compare deeply
        ("Colors = :v", {":v": {"SS": ["Black", "Red"]}}, True),
        ("Sizes = :v", {":v": {"NS": ["2.50", "1"]}}, True),
        ("Tags = :v", {":v": {"L": [S("a"), N("7"), {"M": {"k": S("v")}}]}}, True),
        ("Tags = :v", {":v": {"L": [N("7"), S("a"), {"M": {"k": S("v")}}]}}, False),
        ("Info.Weight = :v", {":v": N("3")}, True),
        ("Info.Parts[1] = :v", {":v": S("seat")}, True),
        # BETWEEN is inclusive at both ends; IN holds for any listed value
        ("Price BETWEEN :lo AND :hi", {":lo": N("10"), ":hi": N("20")}, True),
        ("Price BETWEEN :lo AND :hi", {":lo": N("1"), ":hi": N("10")}, True),
        ("Price BETWEEN :lo AND :hi", {":lo": N("11"), ":hi": N("20")}, False),
        ("Title BETWEEN :lo AND :hi", {":lo": S("A"), ":hi": S("C")}, True),
        ("Price BETWEEN :lo AND :hi", {":lo": S("1"), ":hi": S("9")}, False),
        ("Price IN (:a, :b)", {":a": N("1"), ":b": N("10")}, True),
        ("Price IN (:a, :b)", {":a": N("1"), ":b": S("10")}, False),
    ],
)
def test_comparisons(text: str, values: dict, expected: bool) -> None:
    assert holds(text, **values) is expected


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        # A missing attribute makes comparisons false, except <> which is true.
        ("Absent = :v", {":v": N("1")}, False),
        ("Absent <> :v", {":v": N("1")}, True),
        ("Absent < :v", {":v": N("1")}, False),
        ("Absent BETWEEN :a AND :b", {":a": N("1"), ":b": N("2")}, False),
        ("Absent IN (:v)", {":v": N("1")}, False),
        ("NOT Absent = :v", {":v": N("1")}, True),
        ("Info.Nope.Deeper = :v", {":v": N("1")}, False),
        ("Info.Parts[9] = :v", {":v": S("x")}, False),
        ("Title.Part = :v", {":v": S("x")}, False),  # a path through a non-map is missing
        ("Tags[0] = Info.Nope", {}, False),
        ("Tags[0] <> Info.Nope", {}, True),
    ],
)
def test_missing_attributes(text: str, values: dict, expected: bool) -> None:
    assert holds(text, **values) is expected


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("attribute_exists(Price)", {}, True),
        ("attribute_exists(Absent)", {}, False),
        ("attribute_exists(Info.Parts[1])", {}, True),
        ("attribute_exists(Info.Parts[2])", {}, False),
        ("attribute_not_exists(Absent)", {}, True),
        ("attribute_not_exists(Gone)", {}, False),  # a NULL value exists
        ("attribute_not_exists(Info.Weight)", {}, False),
        ("attribute_type(Price, :t)", {":t": S("N")}, True),
        ("attribute_type(Price, :t)", {":t": S("S")}, False),
        ("attribute_type(Colors, :t)", {":t": S("SS")}, True),
        ("attribute_type(Gone, :t)", {":t": S("NULL")}, True),
        ("attribute_type(InStock, :t)", {":t": S("BOOL")}, True),
        ("attribute_type(Info, :t)", {":t": S("M")}, True),
        ("attribute_type(Tags, :t)", {":t": S("L")}, True),
        ("attribute_type(Absent, :t)", {":t": S("S")}, False),
        ("begins_with(Title, :p)", {":p": S("Bicy")}, True),
        ("begins_with(Title, :p)", {":p": S("bicy")}, False),
        ("begins_with(Bin, :p)", {":p": {"B": b"\x01\x02"}}, True),
        ("begins_with(Bin, :p)", {":p": S("x")}, False),
        ("begins_with(Absent, :p)", {":p": S("x")}, False),
        ("contains(Title, :s)", {":s": S("cle 1")}, True),
        ("contains(Title, :s)", {":s": S("xyz")}, False),
        ("contains(Colors, :s)", {":s": S("Red")}, True),
        ("contains(Colors, :s)", {":s": S("Re")}, False),  # set membership, not substring
        ("contains(Sizes, :n)", {":n": N("2.50")}, True),
        ("contains(Sizes, :n)", {":n": S("1")}, False),
        ("contains(Blobs, :b)", {":b": {"B": b"\xff"}}, True),
        ("contains(Tags, :n)", {":n": N("7")}, True),
        ("contains(Tags, :m)", {":m": {"M": {"k": S("v")}}}, True),
        ("contains(Tags, :s)", {":s": S("b")}, False),
        ("contains(Info, :s)", {":s": S("Weight")}, False),  # maps do not "contain"
        ("contains(Price, :n)", {":n": N("1")}, False),
        ("contains(Absent, :s)", {":s": S("a")}, False),
    ],
)
def test_functions(text: str, values: dict, expected: bool) -> None:
    assert holds(text, **values) is expected


@pytest.mark.parametrize(
    ("attribute", "size"),
    [
        ("Title", 11),  # String: length
        ("Unicode", 3),  # counted in UTF-16 code units, as DynamoDB does ("é𝄞" is 3)
        ("Bin", 3),  # Binary: bytes
        ("Colors", 2),  # sets: members
        ("Sizes", 2),
        ("Blobs", 2),
        ("Tags", 3),  # List: elements
        ("Info", 2),  # Map: entries
    ],
)
def test_size(attribute: str, size: int) -> None:
    assert holds(f"size({attribute}) = :n", **{":n": N(str(size))})
    assert not holds(f"size({attribute}) = :n", **{":n": N(str(size + 1))})


@pytest.mark.parametrize("attribute", ["Price", "InStock", "Gone", "Absent"])
def test_size_of_a_value_without_size_matches_nothing(attribute: str) -> None:
    assert not holds(f"size({attribute}) >= :n", **{":n": N("0")})
    assert holds(f"size({attribute}) <> :n", **{":n": N("0")})


def test_size_compares_with_a_path() -> None:
    assert holds("size(Colors) < Price")
    assert holds("size(Info.Parts) = size(Colors)")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Price = :ten AND Title = :t", True),
        ("Price = :one AND Title = :t", False),
        ("Price = :one OR Title = :t", True),
        ("NOT Price = :one", True),
        ("NOT (Price = :ten OR Price = :one)", False),
        ("Price = :one OR Price = :ten AND Title = :t", True),  # AND binds tighter than OR
        ("(Price = :one OR Price = :ten) AND NOT Title = :t", False),
    ],
)
def test_logical_operators(text: str, expected: bool) -> None:
    values = {":ten": N("10"), ":one": N("1"), ":t": S("Bicycle 123")}
    used = {key: value for key, value in values.items() if key in text.split() or key + ")" in text}
    assert holds(text, **used) is expected


def test_placeholder_names_resolve_in_paths() -> None:
    assert holds("#Info.#Parts[0] = :v", **{"#Info": {}, "#Parts": {}, ":v": S("wheel")})


def test_absent_item_is_an_empty_item() -> None:
    compiled = compile_expressions({"ConditionExpression": "attribute_not_exists(id)"})
    assert compiled.condition is not None
    assert evaluate_condition(compiled.condition, None, compiled.names, compiled.values)


def test_bound_predicate_is_reusable_and_does_not_mutate_items() -> None:
    compiled = compile_expressions({"FilterExpression": "Price > :min"}, values={":min": N("5")})
    assert compiled.filter is not None
    predicate = bind_condition(compiled.filter, compiled.names, compiled.values)
    items = [{"Price": N(str(p))} for p in range(10)]
    snapshot = [dict(item) for item in items]
    assert [predicate(item) for item in items] == [p > 5 for p in range(10)]
    assert items == snapshot


# --- projections -------------------------------------------------------------------------------


def projected(text: str, names: dict | None = None) -> dict:
    compiled = compile_expressions({"ProjectionExpression": text}, names=names)
    assert compiled.projection is not None
    return project(compiled.projection, ITEM, compiled.names)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Price, Title", {"Price": ITEM["Price"], "Title": ITEM["Title"]}),
        ("Price, Absent", {"Price": ITEM["Price"]}),  # missing attributes are left out
        ("Info.Weight", {"Info": {"M": {"Weight": N("3")}}}),
        ("Info.Parts[1]", {"Info": {"M": {"Parts": {"L": [S("seat")]}}}}),
        # several indexes of one list: compacted, in index order (observed on DynamoDB)
        ("Tags[2], Tags[0]", {"Tags": {"L": [S("a"), {"M": {"k": S("v")}}]}}),
        ("Tags[2].k", {"Tags": {"L": [{"M": {"k": S("v")}}]}}),
        ("Tags[5]", {}),  # an index past the end selects nothing
        ("Info.Nope", {}),  # nothing selected: the attribute is omitted, not an empty map
        ("Title.Part, Price[0]", {}),  # paths through scalars select nothing
        (
            "Info.Weight, Info.Parts[0]",
            {"Info": {"M": {"Weight": N("3"), "Parts": {"L": [S("wheel")]}}}},
        ),
    ],
)
def test_projection(text: str, expected: dict) -> None:
    assert projected(text) == expected


def test_projection_with_placeholders_and_reserved_names() -> None:
    item_names = {"#n": "Info", "#w": "Weight"}
    assert projected("#n.#w", item_names) == {"Info": {"M": {"Weight": N("3")}}}


def test_projection_does_not_mutate_the_item() -> None:
    before = repr(ITEM)
    projected("Info.Parts[0], Tags[1]")
    assert repr(ITEM) == before


def test_project_paths_takes_the_shorter_of_two_nested_selections() -> None:
    assert project_paths(ITEM, [("Info",), ("Info", "Weight")]) == {"Info": ITEM["Info"]}
    assert project_paths(ITEM, [("Info", "Weight"), ("Info",)]) == {"Info": ITEM["Info"]}


# --- property: evaluation never raises on valid values -----------------------------------------

_SCALARS = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=4)),
    st.builds(lambda n: {"N": str(n)}, st.integers(-5, 5)),
    st.builds(lambda b: {"B": b}, st.binary(max_size=3)),
    st.just({"BOOL": False}),
    st.just({"NULL": True}),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"L": xs}, st.lists(inner, max_size=3)),
        st.builds(lambda m: {"M": m}, st.dictionaries(st.sampled_from("abc"), inner, max_size=3)),
    ),
    max_leaves=6,
)
_CONDITIONS = st.sampled_from(
    [
        "a = :v", "a <> :v", "a < :v", "a >= :v", "a BETWEEN :v AND :v", "a IN (:v, b)",
        "contains(a, :v)", "begins_with(a, b)", "size(a) > size(b)", "attribute_type(a, :t)",
        "a.b[0] = :v", "a[1].c <= b", "NOT attribute_exists(a.c)", "contains(a, b) OR a = b",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    text=_CONDITIONS,
    a=_VALUES,
    b=_VALUES,
    v=_SCALARS,
    t=st.sampled_from(["S", "N", "B", "L", "M", "NULL", "BOOL", "SS"]),
)
def test_evaluation_is_total(text: str, a: dict, b: dict, v: dict, t: str) -> None:
    values = {":v": v, ":t": {"S": t}}
    if ":t" not in text:
        del values[":t"]
    if ":v" not in text:
        del values[":v"]
    try:
        compiled = compile_expressions({"FilterExpression": text}, values=values or None)
    except ValidationException as err:  # an ordering of a constant BOOL or NULL is refused
        assert "Incorrect operand type" in err.message, err.message
        return
    assert compiled.filter is not None
    result = evaluate_condition(compiled.filter, {"a": a, "b": b}, compiled.names, compiled.values)
    assert result in (True, False)
