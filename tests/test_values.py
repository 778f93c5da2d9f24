"""Table-driven tests of attribute values: one case per documented or captured DynamoDB rule.

Messages are compared exactly. Sources: the DynamoDB developer guide ("Supported data types",
"Item sizes and formats", "Constraints") and captures against AWS published by test suites
(paritysuite/dynamodb-conformance, ScyllaDB's alternator tests, dynalite).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from raydynamo.api import values as v
from raydynamo.api.errors import SerializationException, ValidationException

INVALID = "One or more parameter values were invalid: "
NOT_NUMERIC = "The parameter cannot be converted to a numeric value"
OVERFLOW = (
    "Number overflow. Attempting to store a number with magnitude larger than supported range"
)
UNDERFLOW = (
    "Number underflow. Attempting to store a number with magnitude smaller than supported range"
)
TOO_PRECISE = "Attempting to store more than 38 significant digits in a Number"
NESTING = (
    "Nesting Levels have exceeded supported limits: "
    "Attributes in the item have nested levels beyond supported limit"
)


def deep_map(wraps: int, leaf: dict[str, Any] | None = None) -> dict[str, Any]:
    value = leaf or {"S": "leaf"}
    for _ in range(wraps):
        value = {"M": {"n": value}}
    return value


def deep_list(wraps: int) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(wraps):
        value = {"L": [value]}
    return value


# ---------------------------------------------------------------- accepted values

ACCEPTED = [
    pytest.param({"S": ""}, id="empty string allowed outside keys"),
    pytest.param({"S": "héllo \U0001f600"}, id="non-ascii string"),
    pytest.param({"B": b""}, id="empty binary allowed outside keys"),
    pytest.param({"B": bytearray(b"\x00\xff")}, id="bytearray binary"),
    pytest.param({"BOOL": False}, id="bool false"),
    pytest.param({"NULL": True}, id="null true"),
    pytest.param({"L": []}, id="empty list"),
    pytest.param({"M": {}}, id="empty map"),
    pytest.param({"SS": ["", "a"]}, id="empty string inside a string set"),
    pytest.param({"BS": [b"", b"a"]}, id="empty binary inside a binary set"),
    pytest.param({"NS": ["1", "2.5", "-3"]}, id="number set"),
    pytest.param({"N": "12345678901234567890123456789012345678"}, id="38 digits"),
    pytest.param({"N": "1" + "0" * 100}, id="trailing zeros are not significant digits"),
    pytest.param({"N": "0.00000000000000000000000000000000000000000000001"}, id="leading zeros"),
    pytest.param({"N": "9.9999999999999999999999999999999999999E+125"}, id="largest magnitude"),
    pytest.param({"N": "-9.9999999999999999999999999999999999999E+125"}, id="most negative"),
    pytest.param({"N": "1E-130"}, id="smallest positive"),
    pytest.param({"N": "-1e-130"}, id="largest negative"),
    pytest.param({"N": "0e125"}, id="zero with an in-range exponent"),
    pytest.param({"N": "+3"}, id="plus sign"),
    pytest.param({"N": ".123"}, id="no integer digits"),
    pytest.param({"N": "1."}, id="no fraction digits"),
    pytest.param({"N": "0001.23"}, id="leading zeros in integer part"),
    pytest.param({"N": "1e+5"}, id="signed exponent"),
    pytest.param({"N": "-0"}, id="negative zero"),
    pytest.param(deep_map(31), id="leaf at level 32 under maps"),
    pytest.param(deep_list(31), id="leaf at level 32 under lists"),
    pytest.param(deep_map(31, {"M": {}}), id="empty map at level 32"),
    pytest.param({"M": {"": {"S": "x"}}}, id="empty map key"),
]


@pytest.mark.parametrize("value", ACCEPTED)
def test_accepted_values(value: dict[str, Any]) -> None:
    v.validate_attribute_value(value)


# ---------------------------------------------------------------- refused values, exact messages

V, S = ValidationException, SerializationException

REFUSED = [
    # shape
    pytest.param(
        {},
        V,
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        id="no type",
    ),
    pytest.param(
        {"S": "a", "N": "1"},
        V,
        "Supplied AttributeValue has more than one datatypes set, "
        "must contain exactly one of the supported datatypes",
        id="two types",
    ),
    pytest.param(
        {"S": "a", "N": "b"}, V, f"{NOT_NUMERIC}: b", id="contents checked before the type count"
    ),
    pytest.param(
        {"NULL": False},
        V,
        INVALID + "Null attribute value types must have the value of true",
        id="null false",
    ),
    # numbers that do not parse (DynamoDB echoes the text after a colon, even when empty)
    pytest.param({"N": "abc"}, V, f"{NOT_NUMERIC}: abc", id="letters"),
    pytest.param({"N": ""}, V, f"{NOT_NUMERIC}: ", id="empty number"),
    pytest.param({"N": " 1"}, V, f"{NOT_NUMERIC}:  1", id="leading space"),
    pytest.param({"N": "1 "}, V, f"{NOT_NUMERIC}: 1 ", id="trailing space"),
    pytest.param({"N": "NaN"}, V, f"{NOT_NUMERIC}: NaN", id="nan"),
    pytest.param({"N": "Infinity"}, V, f"{NOT_NUMERIC}: Infinity", id="infinity"),
    pytest.param({"N": "-Infinity"}, V, f"{NOT_NUMERIC}: -Infinity", id="minus infinity"),
    pytest.param({"N": "0x10"}, V, f"{NOT_NUMERIC}: 0x10", id="hex"),
    pytest.param({"N": "1e"}, V, f"{NOT_NUMERIC}: 1e", id="empty exponent"),
    pytest.param({"N": "1.2.3"}, V, f"{NOT_NUMERIC}: 1.2.3", id="two points"),
    pytest.param({"N": "1_000"}, V, f"{NOT_NUMERIC}: 1_000", id="underscore (python accepts)"),
    pytest.param({"N": "\u0661"}, V, f"{NOT_NUMERIC}: \u0661", id="non-ascii digit"),
    pytest.param(
        {"N": "1e9223372036854775808"},
        V,
        f"{NOT_NUMERIC}: 1e9223372036854775808",
        id="exponent past a 64-bit integer",
    ),
    # magnitude
    pytest.param({"N": "1e126"}, V, OVERFLOW, id="1e126"),
    pytest.param({"N": "-1e126"}, V, OVERFLOW, id="-1e126"),
    pytest.param({"N": "11e125"}, V, OVERFLOW, id="11e125"),
    pytest.param({"N": "1e99999999999"}, V, OVERFLOW, id="exponent past 32 bits overflows"),
    pytest.param({"N": "1e2147483647"}, V, OVERFLOW, id="max int exponent overflows"),
    pytest.param({"N": "0e126"}, V, OVERFLOW, id="zero is range-checked by its exponent (high)"),
    pytest.param({"N": "1e-131"}, V, UNDERFLOW, id="1e-131"),
    pytest.param({"N": "0.9e-130"}, V, UNDERFLOW, id="0.9e-130"),
    pytest.param({"N": "-1e-131"}, V, UNDERFLOW, id="-1e-131"),
    pytest.param({"N": "1e-99999999999"}, V, UNDERFLOW, id="exponent past -32 bits underflows"),
    pytest.param({"N": "0e-131"}, V, UNDERFLOW, id="zero is range-checked by its exponent (low)"),
    # precision
    pytest.param({"N": "1234567890123456789012345678901234567890"}, V, TOO_PRECISE, id="40 digits"),
    pytest.param({"N": "3.14159265358979323846264338327950288419"}, V, TOO_PRECISE, id="39 digits"),
    pytest.param({"N": "-314159265358979323846264338327950288419e30"}, V, TOO_PRECISE, id="39 neg"),
    # sets
    pytest.param({"SS": []}, V, INVALID + "An string set  may not be empty", id="empty SS"),
    pytest.param({"NS": []}, V, INVALID + "An number set  may not be empty", id="empty NS"),
    pytest.param({"BS": []}, V, INVALID + "Binary sets should not be empty", id="empty BS"),
    pytest.param(
        {"SS": ["b", "a", "b"]},
        V,
        INVALID + 'Input collection ["a", "b", "b"] contains duplicates.',
        id="SS duplicate",
    ),
    pytest.param(
        {"SS": ["", ""]},
        V,
        INVALID + 'Input collection ["", ""] contains duplicates.',
        id="SS duplicate empty strings",
    ),
    pytest.param(
        {"BS": [b"\xff", b"\x00", b"\x00"]},
        V,
        INVALID + 'Input collection ["AA==","/w==","AA=="]of type BS contains duplicates.',
        id="BS duplicate",
    ),
    pytest.param(
        {"NS": ["2", "1", "2"]}, V, INVALID + "Input collection contains duplicates.", id="NS dup"
    ),
    pytest.param(
        {"NS": ["1", "1.0"]},
        V,
        INVALID + "Input collection contains duplicates.",
        id="NS duplicate by value",
    ),
    pytest.param(
        {"NS": ["0", "-0.0"]}, V, INVALID + "Input collection contains duplicates.", id="NS zeros"
    ),
    pytest.param({"NS": ["1", ""]}, V, f"{NOT_NUMERIC}: ", id="NS empty member"),
    pytest.param({"NS": ["1", "1e126"]}, V, OVERFLOW, id="NS member overflow"),
    # nesting: the first value found at level 33 is refused before its contents are read
    pytest.param(deep_map(32), V, NESTING, id="leaf at level 33 under maps"),
    pytest.param(deep_list(32), V, NESTING, id="leaf at level 33 under lists"),
    pytest.param(deep_map(40, {"N": "abc"}), V, NESTING, id="depth before a bad leaf number"),
    pytest.param({"M": {"a": {"N": "x"}}}, V, f"{NOT_NUMERIC}: x", id="nested bad number"),
    pytest.param(
        {"L": [{"S": "a"}, {}]},
        V,
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        id="nested empty value",
    ),
]


@pytest.mark.parametrize(("value", "error", "message"), REFUSED)
def test_refused_values(value: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        v.validate_attribute_value(value)
    assert type(caught.value) is error
    assert caught.value.message == message


SHAPE_ERRORS = [
    pytest.param("a", "Invalid type for parameter Item.a, value: 'a'", id="not a dict"),
    pytest.param({"X": "a"}, 'Unknown parameter in Item.a: "X", must be one of:', id="unknown"),
    pytest.param({"N": 5}, "Invalid type for parameter Item.a.N, value: 5", id="number not text"),
    pytest.param({"S": 5}, "Invalid type for parameter Item.a.S, value: 5", id="string not str"),
    pytest.param({"B": "YWJj"}, "Invalid type for parameter Item.a.B", id="base64 text as B"),
    pytest.param({"BOOL": 1}, "Invalid type for parameter Item.a.BOOL", id="bool not bool"),
    pytest.param({"NULL": "yes"}, "Invalid type for parameter Item.a.NULL", id="null not bool"),
    pytest.param({"SS": "ab"}, "Invalid type for parameter Item.a.SS", id="set not a list"),
    pytest.param({"SS": {"a"}}, "Invalid type for parameter Item.a.SS", id="python set as SS"),
    pytest.param({"SS": ["a", 1]}, "Invalid type for parameter Item.a.SS[1]", id="SS member"),
    pytest.param({"NS": [1]}, "Invalid type for parameter Item.a.NS[0]", id="NS member"),
    pytest.param({"BS": ["a"]}, "Invalid type for parameter Item.a.BS[0]", id="BS member"),
    pytest.param({"L": {"a": 1}}, "Invalid type for parameter Item.a.L", id="list not a list"),
    pytest.param({"M": [1]}, "Invalid type for parameter Item.a.M", id="map not a dict"),
    pytest.param({"M": {1: {"S": "a"}}}, "Invalid type for parameter Item.a.M key", id="map key"),
]


@pytest.mark.parametrize(("value", "message_start"), SHAPE_ERRORS)
def test_python_shape_errors_name_the_path(value: object, message_start: str) -> None:
    with pytest.raises(SerializationException) as caught:
        v.validate_attribute_value(value, path="Item.a")
    assert caught.value.message.startswith(message_start), caught.value.message


def test_a_lone_surrogate_is_a_validation_exception_naming_its_place() -> None:
    for value in ({"L": [{"S": "a\ud800"}]}, {"L": [{"SS": ["x", "\udfff"]}]}):
        with pytest.raises(ValidationException) as caught:
            v.validate_attribute_value(value, path="Item.a")
        assert caught.value.message.startswith(
            "One or more parameter values were invalid: Item.a.L[0]."
        ), caught.value.message
        caught.value.message.encode("utf-8")


def test_validation_does_not_mutate() -> None:
    value = {"M": {"n": {"N": "01.50"}, "s": {"NS": ["2", "1"]}}}
    v.validate_attribute_value(value)
    assert value == {"M": {"n": {"N": "01.50"}, "s": {"NS": ["2", "1"]}}}


# ---------------------------------------------------------------- numbers

CANONICAL = [
    ("1.50", "1.5"),
    ("01", "1"),
    ("1E2", "100"),
    ("0042.1200", "42.12"),
    ("-0", "0"),
    ("0.0", "0"),
    ("0e125", "0"),
    ("+3", "3"),
    (".5", "0.5"),
    ("1.", "1"),
    ("12.3400e2", "1234"),
    ("-12.34e1", "-123.4"),
    ("-1.5e-3", "-0.0015"),
    ("1E125", "1" + "0" * 125),
    ("1e-130", "0." + "0" * 129 + "1"),
    ("123456789012345678901234567890123456.78", "123456789012345678901234567890123456.78"),
]


@pytest.mark.parametrize(("text", "canonical"), CANONICAL)
def test_canonical_number(text: str, canonical: str) -> None:
    assert v.canonical_number(text) == canonical
    assert v.to_decimal(text) == Decimal(canonical)


# Captured against AWS to the byte (paritysuite/dynamodb-conformance, item-size.ts).
NUMBER_SIZES = [
    ("0", 1),
    ("1", 2),
    ("12", 2),
    ("123", 3),
    ("1234", 3),
    ("12345678901234567890123456789012345678", 20),
    ("0042", 2),
    ("100", 2),
    ("1010", 3),
    ("0.0000001", 2),
    ("1E125", 2),
    ("1E-100", 2),
    ("1.5", 3),
    ("15", 2),
    ("1.2", 3),
    ("1.200", 3),
    ("1.234", 4),
    ("3.14159", 5),
    ("123456", 4),
    ("100.5", 4),
    ("0.15", 2),
    ("-42", 3),
    ("-0", 1),
]


@pytest.mark.parametrize(("text", "size"), NUMBER_SIZES)
def test_number_size(text: str, size: int) -> None:
    assert v.number_size(text) == size
    assert v.attribute_size({"N": text}) == size


ARITHMETIC = [
    (v.add_numbers, "1", "10000000000000000000000", "10000000000000000000001"),
    (v.subtract_numbers, "10000000000000000000000", "1", "9999999999999999999999"),
    (v.add_numbers, "0.1", "0.2", "0.3"),
    (v.add_numbers, "-5.5", "5.50", "0"),
    (v.subtract_numbers, "1e-130", "-1e-130", "0." + "0" * 129 + "2"),
]


@pytest.mark.parametrize(("operation", "left", "right", "result"), ARITHMETIC)
def test_arithmetic_is_exact(operation: Any, left: str, right: str, result: str) -> None:
    assert operation(left, right) == result


ARITHMETIC_ERRORS = [
    (v.add_numbers, "9e125", "9e125", OVERFLOW),
    (v.subtract_numbers, "9e125", "-9e125", OVERFLOW),
    # DynamoDB calls a result that needs more than 38 digits an overflow (ScyllaDB's capture).
    (v.subtract_numbers, "1e50", "1", OVERFLOW),
    (v.add_numbers, "1e50", "1", OVERFLOW),
    (v.subtract_numbers, "1.1e-130", "1e-130", UNDERFLOW),
]


@pytest.mark.parametrize(("operation", "left", "right", "message"), ARITHMETIC_ERRORS)
def test_arithmetic_errors(operation: Any, left: str, right: str, message: str) -> None:
    with pytest.raises(ValidationException) as caught:
        operation(left, right)
    assert caught.value.message == message


def test_from_decimal_checks_the_range() -> None:
    assert v.from_decimal(Decimal("1.500")) == "1.5"
    assert v.from_decimal(7) == "7"
    with pytest.raises(ValidationException, match="overflow"):
        v.from_decimal(Decimal("1E+126"))


# ---------------------------------------------------------------- sizes

ATTRIBUTE_SIZES = [
    pytest.param({"S": "abc"}, 3, id="string bytes"),
    pytest.param({"S": "é€"}, 5, id="string counts UTF-8 bytes"),
    pytest.param({"B": b"\x00\x01\x02"}, 3, id="binary raw bytes"),
    pytest.param({"BOOL": True}, 1, id="bool"),
    pytest.param({"NULL": True}, 1, id="null"),
    pytest.param({"L": []}, 3, id="empty list"),
    pytest.param({"M": {}}, 3, id="empty map"),
    pytest.param({"L": [{"S": "xy"}, {"NULL": True}]}, 3 + (1 + 2) + (1 + 1), id="list"),
    pytest.param({"M": {"ab": {"N": "1"}}}, 3 + 1 + 2 + 2, id="map counts its keys"),
    pytest.param({"SS": ["a", "bc"]}, 3, id="string set"),
    pytest.param({"NS": ["1", "12345"]}, 2 + 4, id="number set"),
    pytest.param({"BS": [b"a", b"bcd"]}, 4, id="binary set"),
]


@pytest.mark.parametrize(("value", "size"), ATTRIBUTE_SIZES)
def test_attribute_size(value: dict[str, Any], size: int) -> None:
    assert v.attribute_size(value) == size


def test_item_size_counts_names() -> None:
    item = {"id": {"S": "abc"}, "n": {"N": "12345"}, "flag": {"BOOL": True}}
    assert v.item_size(item) == (2 + 3) + (1 + 4) + (4 + 1)


def test_item_size_limit_is_inclusive() -> None:
    at_limit = {"pk": {"S": "x" * (v.ITEM_SIZE_MAX_BYTES - 2)}}
    assert v.item_size(at_limit) == 409_600
    v.validate_item(at_limit)
    over = {"pk": {"S": "x" * (v.ITEM_SIZE_MAX_BYTES - 1)}}
    with pytest.raises(ValidationException) as caught:
        v.validate_item(over)
    assert caught.value.message == "Item size has exceeded the maximum allowed size"
    with pytest.raises(ValidationException) as caught:
        v.validate_item_size(over, for_update=True)
    assert caught.value.message == "Item size to update has exceeded the maximum allowed size"
    v.validate_item(over, check_size=False)


def test_validate_item_checks_every_attribute() -> None:
    with pytest.raises(ValidationException) as caught:
        v.validate_item({"a": {"S": "x"}, "b": {"NS": []}})
    assert caught.value.message == INVALID + "An number set  may not be empty"
    with pytest.raises(SerializationException):
        v.validate_item([("a", {"S": "x"})])


# ---------------------------------------------------------------- keys

EMPTY_KEY = (
    "One or more parameter values are not valid. The AttributeValue for a key attribute "
    "cannot contain an empty {kind} value. Key: {name}"
)
HASH_TOO_BIG = INVALID + "Size of hashkey has exceeded the maximum size limit of2048 bytes"
RANGE_TOO_BIG = (
    INVALID + "Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
)

KEY_ACCEPTED = [
    pytest.param("pk", {"S": "x" * 2048}, "S", "partition", id="partition S 2048 bytes"),
    pytest.param("pk", {"S": "é" * 1024}, "S", "partition", id="partition S 2048 UTF-8 bytes"),
    pytest.param("pk", {"B": b"\x01" * 2048}, "B", "HASH", id="partition B 2048 bytes"),
    pytest.param("sk", {"S": "x" * 1024}, "S", "sort", id="sort S 1024 bytes"),
    pytest.param("sk", {"B": b"\x01" * 1024}, "B", "RANGE", id="sort B 1024 bytes"),
    pytest.param("sk", {"N": "-1e-130"}, "N", "sort", id="sort N"),
]


@pytest.mark.parametrize(("name", "value", "key_type", "role"), KEY_ACCEPTED)
def test_key_accepted(name: str, value: dict[str, Any], key_type: str, role: str) -> None:
    v.validate_key_attribute(name, value, key_type, role=role)


KEY_REFUSED = [
    pytest.param(
        "pk",
        {"N": "5"},
        "S",
        "partition",
        INVALID + "Type mismatch for key pk expected: S actual: N",
        id="type mismatch",
    ),
    pytest.param(
        "pk",
        {"L": [{"S": "x"}]},
        "S",
        "partition",
        INVALID + "Type mismatch for key pk expected: S actual: L",
        id="non-scalar key",
    ),
    pytest.param(
        "pk",
        {"S": ""},
        "S",
        "partition",
        EMPTY_KEY.format(kind="string", name="pk"),
        id="empty string key",
    ),
    pytest.param(
        "sk", {"B": b""}, "B", "sort", EMPTY_KEY.format(kind="binary", name="sk"), id="empty B"
    ),
    pytest.param("pk", {"S": "x" * 2049}, "S", "partition", HASH_TOO_BIG, id="partition 2049"),
    pytest.param("pk", {"S": "é" * 1025}, "S", "partition", HASH_TOO_BIG, id="partition UTF-8"),
    pytest.param("pk", {"B": b"\x00" * 2049}, "B", "partition", HASH_TOO_BIG, id="partition B"),
    pytest.param("sk", {"S": "x" * 1025}, "S", "sort", RANGE_TOO_BIG, id="sort 1025"),
    pytest.param("sk", {"B": b"\x00" * 1025}, "B", "sort", RANGE_TOO_BIG, id="sort B 1025"),
    pytest.param("pk", {"N": "1e126"}, "N", "partition", OVERFLOW, id="key number overflow"),
    pytest.param(
        "pk",
        {"SS": ["b", "a", "b"]},
        "S",
        "partition",
        INVALID + 'Input collection ["a", "b", "b"] contains duplicates.',
        id="value checked before the key type",
    ),
]


@pytest.mark.parametrize(("name", "value", "key_type", "role", "message"), KEY_REFUSED)
def test_key_refused(
    name: str, value: dict[str, Any], key_type: str, role: str, message: str
) -> None:
    with pytest.raises(ValidationException) as caught:
        v.validate_key_attribute(name, value, key_type, role=role)
    assert caught.value.message == message


def test_key_role_is_checked() -> None:
    with pytest.raises(ValueError):
        v.validate_key_attribute("pk", {"S": "a"}, "S", role="primary")


def test_item_and_key_parameters() -> None:
    schema = (("pk", "S"), ("sk", "N"))
    v.validate_item_key({"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"NULL": True}}, *schema)
    with pytest.raises(ValidationException) as caught:
        v.validate_item_key({"pk": {"S": "a"}}, *schema)
    assert caught.value.message == INVALID + "Missing the key sk in the item"
    v.validate_key({"pk": {"S": "a"}, "sk": {"N": "1"}}, *schema)
    for key in ({"pk": {"S": "a"}}, {"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"S": "b"}}):
        with pytest.raises(ValidationException) as caught:
            v.validate_key(key, *schema)
        assert caught.value.message == "The provided key element does not match the schema"
    v.validate_key({"pk": {"S": "a"}}, ("pk", "S"))


# ---------------------------------------------------------------- equality and order

EQUALITY = [
    pytest.param({"N": "1"}, {"N": "1.0"}, True, id="numbers by value"),
    pytest.param({"N": "-0"}, {"N": "0e5"}, True, id="zeros"),
    pytest.param({"N": "1"}, {"S": "1"}, False, id="typed"),
    pytest.param({"S": "a"}, {"S": "a"}, True, id="strings"),
    pytest.param({"B": b"a"}, {"B": bytearray(b"a")}, True, id="bytes and bytearray"),
    pytest.param({"BOOL": True}, {"BOOL": False}, False, id="bools"),
    pytest.param({"NULL": True}, {"NULL": True}, True, id="nulls"),
    pytest.param({"SS": ["a", "b"]}, {"SS": ["b", "a"]}, True, id="string sets as sets"),
    pytest.param({"NS": ["1", "2"]}, {"NS": ["2.0", "1"]}, True, id="number sets by value"),
    pytest.param({"NS": ["1", "2"]}, {"NS": ["1"]}, False, id="number sets differ"),
    pytest.param({"BS": [b"a", b"b"]}, {"BS": [b"b", b"a"]}, True, id="binary sets"),
    pytest.param({"SS": ["1"]}, {"NS": ["1"]}, False, id="set types differ"),
    pytest.param({"L": [{"N": "1"}, {"S": "a"}]}, {"L": [{"N": "1.00"}, {"S": "a"}]}, True, id="L"),
    pytest.param(
        {"L": [{"N": "1"}, {"N": "2"}]}, {"L": [{"N": "2"}, {"N": "1"}]}, False, id="L order"
    ),
    pytest.param({"L": [{"N": "1"}]}, {"L": [{"N": "1"}, {"N": "1"}]}, False, id="L length"),
    pytest.param({"M": {"a": {"N": "1"}}}, {"M": {"a": {"N": "1.0"}}}, True, id="M deep"),
    pytest.param({"M": {"a": {"N": "1"}}}, {"M": {"b": {"N": "1"}}}, False, id="M keys"),
]


@pytest.mark.parametrize(("a", "b", "equal"), EQUALITY)
def test_values_equal(a: dict[str, Any], b: dict[str, Any], equal: bool) -> None:
    assert v.values_equal(a, b) is equal
    assert v.values_equal(b, a) is equal


ORDER = [
    pytest.param({"S": "a"}, {"S": "b"}, -1, id="strings"),
    pytest.param({"S": "Z"}, {"S": "a"}, -1, id="upper before lower"),
    pytest.param({"S": "a"}, {"S": "ab"}, -1, id="prefix first"),
    pytest.param({"S": "\uffff"}, {"S": "\U00010000"}, -1, id="UTF-8 order, not UTF-16"),
    pytest.param({"N": "10"}, {"N": "9"}, 1, id="numbers by value, not text"),
    pytest.param({"N": "-1"}, {"N": "0.5"}, -1, id="negative first"),
    pytest.param({"N": "1.0"}, {"N": "1"}, 0, id="equal numbers"),
    pytest.param({"N": "-10"}, {"N": "-9"}, -1, id="negative magnitudes"),
    pytest.param({"B": b"\x00"}, {"B": b"\xff"}, -1, id="unsigned bytes"),
    pytest.param({"B": b"a"}, {"B": b"ab"}, -1, id="binary prefix first"),
    pytest.param({"N": "1"}, {"S": "1"}, None, id="different types"),
    pytest.param({"SS": ["a"]}, {"SS": ["a"]}, None, id="sets are not ordered"),
    pytest.param({"BOOL": False}, {"BOOL": True}, None, id="bools are not ordered"),
]


@pytest.mark.parametrize(("a", "b", "order"), ORDER)
def test_compare_scalars(a: dict[str, Any], b: dict[str, Any], order: int | None) -> None:
    assert v.compare_scalars(a, b) == order
    assert v.compare_scalars(b, a) == (None if order is None else -order)


def test_canonicalize() -> None:
    value = {
        "M": {
            "n": {"N": "01.50"},
            "l": {"L": [{"N": "1E2"}, {"B": bytearray(b"x")}]},
            "s": {"NS": ["2.0", "-0"]},
            "b": {"BS": [bytearray(b"y")]},
        }
    }
    result = v.canonicalize(value)
    assert result == {
        "M": {
            "n": {"N": "1.5"},
            "l": {"L": [{"N": "100"}, {"B": b"x"}]},
            "s": {"NS": ["2", "0"]},
            "b": {"BS": [b"y"]},
        }
    }
    assert type(result["M"]["l"]["L"][1]["B"]) is bytes
    assert value["M"]["n"] == {"N": "01.50"}  # the input is not changed
    assert v.canonicalize_item({"a": {"N": "1.0"}}) == {"a": {"N": "1"}}


# ---------------------------------------------------------------- Python conversion

SERIALIZED = [
    pytest.param(None, {"NULL": True}, id="None"),
    pytest.param(True, {"BOOL": True}, id="bool before int"),
    pytest.param(7, {"N": "7"}, id="int"),
    pytest.param(Decimal("1.50"), {"N": "1.50"}, id="decimal keeps its text"),
    pytest.param("s", {"S": "s"}, id="str"),
    pytest.param(b"x", {"B": b"x"}, id="bytes"),
    pytest.param(bytearray(b"x"), {"B": b"x"}, id="bytearray"),
    pytest.param({"a"}, {"SS": ["a"]}, id="string set"),
    pytest.param({Decimal("2")}, {"NS": ["2"]}, id="number set"),
    pytest.param(frozenset({b"x"}), {"BS": [b"x"]}, id="binary set"),
    pytest.param(set(), {"NS": []}, id="empty set becomes an empty NS, as in boto3"),
    pytest.param([1, "a"], {"L": [{"N": "1"}, {"S": "a"}]}, id="list"),
    pytest.param((1,), {"L": [{"N": "1"}]}, id="tuple"),
    pytest.param({"k": None}, {"M": {"k": {"NULL": True}}}, id="dict"),
]


@pytest.mark.parametrize(("python_value", "wire"), SERIALIZED)
def test_serialize(python_value: Any, wire: dict[str, Any]) -> None:
    assert v.serialize(python_value) == wire


SERIALIZE_ERRORS = [
    pytest.param(1.5, "Float types are not supported. Use Decimal types instead.", id="float"),
    pytest.param({1.5}, "Float types are not supported. Use Decimal types instead.", id="floats"),
    pytest.param(
        [{"a": 0.1}], "Float types are not supported. Use Decimal types instead.", id="deep"
    ),
    pytest.param(Decimal("NaN"), "Infinity and NaN not supported", id="nan"),
    pytest.param(Decimal("-Infinity"), "Infinity and NaN not supported", id="infinity"),
    pytest.param(object, "Unsupported type \"<class 'type'>\" for value", id="other type"),
    pytest.param({1, "a"}, "Unsupported type \"<class 'set'>\" for value", id="mixed set"),
]


@pytest.mark.parametrize(("python_value", "message_start"), SERIALIZE_ERRORS)
def test_serialize_errors(python_value: Any, message_start: str) -> None:
    with pytest.raises(ValidationException) as caught:
        v.serialize(python_value)
    assert caught.value.message.startswith(message_start)


def test_deserialize() -> None:
    item = {
        "n": {"N": "1.50"},
        "ns": {"NS": ["1", "2"]},
        "b": {"B": bytearray(b"x")},
        "l": {"L": [{"NULL": True}, {"BOOL": False}, {"SS": ["a"]}, {"BS": [b"y"]}]},
        "m": {"M": {"s": {"S": "t"}}},
    }
    result = v.deserialize_item(item)
    assert result == {
        "n": Decimal("1.5"),
        "ns": {Decimal(1), Decimal(2)},
        "b": b"x",
        "l": [None, False, {"a"}, {b"y"}],
        "m": {"s": "t"},
    }
    assert type(result["n"]) is Decimal
    assert type(result["b"]) is bytes
    assert v.serialize_item({"a": 1}) == {"a": {"N": "1"}}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", v.EMPTY_ATTRIBUTE_NAME),
        ("x" * 65536, v.ATTRIBUTE_NAME_TOO_LARGE),
        ("é" * 32768, v.ATTRIBUTE_NAME_TOO_LARGE),  # 65536 UTF-8 bytes
    ],
    ids=["empty", "65536 ASCII bytes", "65536 UTF-8 bytes"],
)
def test_item_attribute_names_hold_1_to_65535_bytes(name: str, message: str) -> None:
    with pytest.raises(ValidationException) as caught:
        v.validate_item({"pk": {"S": "a"}, name: {"N": "1"}}, check_size=False)
    assert caught.value.message == message
    v.validate_item({"pk": {"S": "a"}, "x" * 65535: {"N": "1"}}, check_size=False)
