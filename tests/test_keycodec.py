"""Property tests: key encodings round-trip and sort exactly as DynamoDB orders keys.

The order oracle is independent of the code under test: Python's ``Decimal`` (exact comparison)
for numbers, UTF-8 bytes for strings, ``bytes`` for binaries. Values also round-trip through the
Python conversion (``serialize``/``deserialize``) unchanged.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from raydynamo.api import values as v
from raydynamo.api.errors import ValidationException
from raydynamo.storage import keycodec as kc

# ---------------------------------------------------------------- strategies


@st.composite
def number_texts(draw: st.DrawFn) -> str:
    """Valid non-zero DynamoDB numbers, written in any of the forms DynamoDB accepts."""
    digits = draw(st.sampled_from("123456789")) + draw(st.text("0123456789", max_size=37))
    digits = digits.rstrip("0")
    adjusted = draw(st.integers(-130, 125))  # power of ten of the first digit
    negative = draw(st.booleans())
    sign = "-" if negative else draw(st.sampled_from(["", "+"]))
    leading_zeros = "0" * draw(st.integers(0, 2))
    trailing_zeros = "0" * draw(st.integers(0, 2))
    if draw(st.booleans()):  # plain notation, as DynamoDB returns it
        plain = format(Decimal((0, tuple(map(int, digits)), adjusted - len(digits) + 1)), "f")
        if "." in plain:
            plain += trailing_zeros
        return sign + leading_zeros + plain
    # d.ddd e X, with the point after `split` digits and X compensating
    split = draw(st.integers(0, len(digits)))
    integer, fraction = digits[:split], digits[split:] + trailing_zeros
    body = leading_zeros + (integer or ("0" if draw(st.booleans()) else ""))
    if fraction:
        body += "." + fraction
    elif not integer:
        body += "0"
    marker = draw(st.sampled_from(["e", "E", "e+"]))
    exponent = adjusted - split + 1
    exponent_text = (
        f"E{exponent}" if marker == "E" else f"e{exponent:+d}" if marker == "e+" else f"e{exponent}"
    )
    return sign + body + exponent_text


ZERO_TEXTS = ["0", "-0", "+0", "0.0", "00.000", "0e10", "-0.0e-5", "0E+125", ".0", "0."]
EXTREME_TEXTS = [
    "1e-130",
    "-1e-130",
    "1E125",
    "-1E125",
    "9.9999999999999999999999999999999999999E+125",
    "-9.9999999999999999999999999999999999999E+125",
    "12345678901234567890123456789012345678",
    "-0.12345678901234567890123456789012345678",
    "0.12",
    "0.1201",
    "0.13",
]

numbers = st.one_of(number_texts(), st.sampled_from(ZERO_TEXTS + EXTREME_TEXTS))

SPECIAL_CHARACTERS = ["\x00", "\x01", "\xff", "a", "\u00e9", "\uffff", "\U00010000", "\U0010ffff"]
strings = st.text(
    alphabet=st.one_of(
        st.sampled_from(SPECIAL_CHARACTERS), st.characters(exclude_categories=("Cs",))
    ),
    max_size=12,
)
binaries = st.lists(
    st.one_of(st.sampled_from([0x00, 0x01, 0xFE, 0xFF]), st.integers(0, 255)), max_size=12
).map(bytes)

KEY_VALUES = {
    "S": strings.map(lambda s: {"S": s}),
    "N": numbers.map(lambda n: {"N": n}),
    "B": binaries.map(lambda b: {"B": b}),
}


def oracle(value: dict[str, Any]) -> Any:
    """DynamoDB's order for a key value, computed without the code under test."""
    ((tag, payload),) = value.items()
    if tag == "N":
        return Decimal(payload)
    if tag == "S":
        return payload.encode("utf-8")
    return bytes(payload)


def cmp(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


# ---------------------------------------------------------------- numbers


@given(numbers)
@example("-0")
@example("1E125")
def test_number_text_is_valid_and_canonical_is_the_same_value(text: str) -> None:
    v.validate_attribute_value({"N": text})
    canonical = v.canonical_number(text)
    assert Decimal(canonical) == Decimal(text)
    assert v.canonical_number(canonical) == canonical
    assert "e" not in canonical.lower()
    assert canonical == "0" or not canonical.lstrip("-").startswith("00")


@given(numbers)
def test_number_round_trips_through_the_key_encoding(text: str) -> None:
    encoded = kc.encode_key_value({"N": text})
    assert kc.decode_key_value(encoded, "N") == {"N": v.canonical_number(text)}
    assert kc.encode_key_value({"N": v.canonical_number(text)}) == encoded


@settings(max_examples=500)
@given(numbers, numbers)
@example("0.12", "0.1201")
@example("-0.12", "-0.1201")
@example("-0", "0.0")
@example("1e-130", "-1e-130")
@example("9.9999999999999999999999999999999999999E+125", "1E125")
def test_number_encodings_sort_by_value(a: str, b: str) -> None:
    encoded = cmp(kc.encode_key_value({"N": a}), kc.encode_key_value({"N": b}))
    assert encoded == cmp(Decimal(a), Decimal(b))
    assert v.compare_scalars({"N": a}, {"N": b}) == encoded


@given(st.lists(numbers, min_size=2, max_size=30))
def test_sorted_number_encodings_are_sorted_numbers(texts: list[str]) -> None:
    by_encoding = sorted(texts, key=lambda t: kc.encode_key_value({"N": t}))
    assert [Decimal(t) for t in by_encoding] == sorted(Decimal(t) for t in texts)


@given(
    st.from_regex(
        r"[+-]?([0-9]{1,45}(\.[0-9]{0,5})?|\.[0-9]{1,5})([eE][+-]?[0-9]{1,4})?", fullmatch=True
    )
)
def test_any_number_text_is_either_refused_or_kept_exactly(text: str) -> None:
    try:
        canonical = v.canonical_number(text)
    except ValidationException as error:
        assert error.message.startswith(("Number overflow", "Number underflow", "Attempting"))
        return
    assert Decimal(canonical) == Decimal(text)


# ---------------------------------------------------------------- strings and binaries


@given(strings)
def test_string_round_trip(text: str) -> None:
    assert kc.decode_key_value(kc.encode_key_value({"S": text}), "S") == {"S": text}


@given(binaries)
def test_binary_round_trip(data: bytes) -> None:
    assert kc.decode_key_value(kc.encode_key_value({"B": data}), "B") == {"B": data}


@settings(max_examples=400)
@given(strings, strings)
@example("a", "a\x00")
@example("a\x00", "a\x01")
@example("", "\x00")
@example("\uffff", "\U00010000")
def test_string_encodings_sort_by_utf8_bytes(a: str, b: str) -> None:
    encoded = cmp(kc.encode_key_value({"S": a}), kc.encode_key_value({"S": b}))
    assert encoded == cmp(a.encode("utf-8"), b.encode("utf-8"))
    assert v.compare_scalars({"S": a}, {"S": b}) == encoded


@settings(max_examples=400)
@given(binaries, binaries)
@example(b"a", b"a\x00")
@example(b"\x00", b"\x00\x00")
@example(b"\x00\xff", b"\x00\x01")
def test_binary_encodings_sort_by_bytes(a: bytes, b: bytes) -> None:
    encoded = cmp(kc.encode_key_value({"B": a}), kc.encode_key_value({"B": b}))
    assert encoded == cmp(a, b)
    assert v.compare_scalars({"B": a}, {"B": b}) == encoded


@given(strings, strings)
@example("a", "a\x00b")
@example("a\x00", "a\x00")
def test_begins_with_range_holds_exactly_the_values_with_that_prefix(
    prefix: str, text: str
) -> None:
    start = kc.encode_key_prefix({"S": prefix})
    end = kc.prefix_end(start)
    encoded = kc.encode_key_value({"S": text})
    inside = start <= encoded and (end is None or encoded < end)
    assert inside == text.encode("utf-8").startswith(prefix.encode("utf-8"))


# ---------------------------------------------------------------- composite keys

TYPE_PAIRS = [(p, s) for p in "SNB" for s in ("S", "N", "B", None)]


@pytest.mark.parametrize(("partition_type", "sort_type"), TYPE_PAIRS)
@settings(max_examples=150)
@given(data=st.data())
def test_item_keys_order_by_partition_then_sort(
    partition_type: str, sort_type: str | None, data: st.DataObject
) -> None:
    def draw_key() -> tuple[dict[str, Any], dict[str, Any] | None]:
        partition = data.draw(KEY_VALUES[partition_type])
        sort = data.draw(KEY_VALUES[sort_type]) if sort_type else None
        return partition, sort

    (p1, s1), (p2, s2) = draw_key(), draw_key()
    if data.draw(st.booleans()):
        p2 = p1  # same item collection, so the sort key decides
    k1, k2 = kc.encode_item_key(p1, s1), kc.encode_item_key(p2, s2)
    expected = cmp(
        (oracle(p1), oracle(s1) if s1 else 0),
        (oracle(p2), oracle(s2) if s2 else 0),
    )
    assert cmp(k1, k2) == expected
    decoded_partition, decoded_sort = kc.decode_item_key(k1, partition_type, sort_type)
    assert v.values_equal(decoded_partition, p1)
    assert decoded_sort is None if s1 is None else v.values_equal(decoded_sort, s1)
    collection_start = kc.encode_key_value(p1)
    collection_end = kc.prefix_end(collection_start)
    assert collection_start <= k1 and (collection_end is None or k1 < collection_end)


def test_decoding_refuses_corrupt_bytes() -> None:
    for data, key_type in [
        (b"a", "S"),
        (b"a\x00\x02", "S"),
        (b"\x04", "N"),
        (b"\x03\x80", "N"),
        (b"\x03\x80\x01\x03", "N"),
        (b"\x03\x80\x01\x14\x00", "N"),
        (b"\xff\xfe\x00\x01", "S"),
    ]:
        with pytest.raises(kc.KeyDecodeError):
            kc.decode_key_value(data, key_type)
    with pytest.raises(kc.KeyDecodeError):
        kc.decode_item_key(kc.encode_item_key({"S": "a"}, {"S": "b"}), "S")


def test_prefix_end() -> None:
    assert kc.prefix_end(b"ab") == b"ac"
    assert kc.prefix_end(b"a\xff\xff") == b"b"
    assert kc.prefix_end(b"\xff") is None


# ---------------------------------------------------------------- key hash


def test_key_hash_is_stable_across_processes_and_releases() -> None:
    # Golden values: changing them re-shards every table, so it must never happen by accident.
    assert kc.key_hash({"S": "x"}) == 15743330346174942479
    assert kc.key_hash({"N": "1"}) == kc.key_hash({"N": "1.00"}) == kc.key_hash({"N": "10e-1"})
    assert kc.key_hash({"N": "1"}) != kc.key_hash({"S": "1"})
    assert 0 <= kc.key_hash({"B": b"\x00"}) < 2**64


@given(st.one_of(*KEY_VALUES.values()))
def test_key_hash_is_a_64_bit_function_of_the_value(value: dict[str, Any]) -> None:
    h = kc.key_hash(value)
    assert 0 <= h < 2**64
    assert h == kc.key_hash(v.canonicalize(value))


# ---------------------------------------------------------------- Python conversion round trip

wire_scalars = st.one_of(
    strings.map(lambda s: {"S": s}),
    numbers.map(lambda n: {"N": n}),
    binaries.map(lambda b: {"B": b}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.lists(strings, min_size=1, max_size=5, unique=True).map(lambda m: {"SS": m}),
    st.lists(binaries, min_size=1, max_size=5, unique=True).map(lambda m: {"BS": m}),
    st.lists(numbers, min_size=1, max_size=5, unique_by=Decimal).map(lambda m: {"NS": m}),
)
wire_values = st.recursive(
    wire_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda items: {"L": items}),
        st.dictionaries(strings, children, max_size=4).map(lambda items: {"M": items}),
    ),
    max_leaves=20,
)


@given(wire_values)
def test_wire_values_round_trip_through_python(value: dict[str, Any]) -> None:
    v.validate_attribute_value(value)
    again = v.serialize(v.deserialize(value))
    v.validate_attribute_value(again)
    assert v.values_equal(again, value)
    assert v.attribute_size(again) == v.attribute_size(value)
    assert v.canonicalize(v.canonicalize(value)) == v.canonicalize(value)
    assert v.values_equal(v.canonicalize(value), value)


python_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**37), 10**37),
    numbers.map(Decimal),
    strings,
    binaries,
    st.sets(strings, min_size=1, max_size=4),
    st.sets(st.integers(-1000, 1000), min_size=1, max_size=4),
    st.sets(binaries, min_size=1, max_size=4),
)
python_values = st.recursive(
    python_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(strings, children, max_size=4)
    ),
    max_leaves=20,
)


@given(python_values)
def test_python_values_round_trip_through_the_wire(value: Any) -> None:
    wire = v.serialize(value)
    v.validate_attribute_value(wire)
    assert v.deserialize(wire) == value


@given(st.dictionaries(strings, wire_values, min_size=1, max_size=6))
def test_items_round_trip_through_their_stored_bytes(item: dict[str, Any]) -> None:
    """What the partition stores (``api.schema.encode_item``) decodes to the very same item."""
    from raydynamo.api.schema import decode_item, encode_item

    stored = v.canonicalize_item(item)
    assert decode_item(encode_item(stored)) == stored
