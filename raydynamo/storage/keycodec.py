"""Order-preserving byte encoding of primary keys, and the key hash partitions are cut by.

A RocksDB bytewise scan over encoded keys visits items in DynamoDB's order: by partition key
value, then by sort key value, where numbers order by numeric value, strings by the bytes of
their UTF-8 encoding and binaries by unsigned bytes. The table's key schema fixes each key
attribute's type, so no type tag is stored and decoding is told the type.

Encodings (each one prefix-free, so concatenations order component by component)::

    S, B   the bytes (UTF-8 for S) with 0x00 escaped as 0x00 0xFF, then the terminator 0x00 0x01
    N      zero:      0x02
           positive:  0x03, exponent, mantissa
           negative:  0x01, 0xFFFF - exponent, mantissa with every byte inverted (255 - b)
           exponent:  E + 0x8000 as 2 big-endian bytes, where value = 0.d1d2...dn * 10**E
           mantissa:  the digits d1d2...dn (no trailing zeros, padded with one 0 to an even
                      count) as base-100 digits c1..ck, byte 2*ci + 1 for all but the last,
                      2*ck for the last (never 0: ck > 0), so the last byte marks the end

Why these orders hold: an escaped string that is a proper prefix of another continues with the
terminator 0x00 0x01, below both an escaped 0x00 (0x00 0xFF) and any other byte. Positive numbers
order by exponent, then by digits read left to right; the mantissa bytes keep that order and a
shorter mantissa that is a prefix of a longer one ends on an even byte, below the odd byte the
longer one has there. Inverting every byte of a prefix-free code reverses its order, which is
what negative numbers need (larger magnitude first).

Numbers are encoded from their normal form, so every text of one value (``"1"``, ``"1.0"``,
``"10E-1"``) has the same encoding and the same key hash; decoding yields DynamoDB's canonical
text. Inputs must be valid key values (``values.validate_key_attribute``).

This module is pure: it must not import ray or rocksdict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from raydynamo.api.numbers import NumberParts, parse_number, parts_to_text

AttributeValue = dict[str, Any]

ESCAPE_BYTE = 0x00
ESCAPED_ZERO = b"\x00\xff"
TERMINATOR = b"\x00\x01"
NUMBER_NEGATIVE = 0x01
NUMBER_ZERO = 0x02
NUMBER_POSITIVE = 0x03
EXPONENT_BIAS = 0x8000
KEY_HASH_BYTES = 8


class KeyDecodeError(ValueError):
    """Bytes that no key encoding produces: corruption or a wrong key type, never user input."""


# ---------------------------------------------------------------- strings and binaries


def _encode_bytes(raw: bytes) -> bytes:
    return raw.replace(b"\x00", ESCAPED_ZERO) + TERMINATOR


def _decode_bytes(data: bytes, offset: int) -> tuple[bytes, int]:
    out = bytearray()
    position = offset
    while True:
        zero = data.find(b"\x00", position)
        if zero < 0 or zero + 1 >= len(data):
            raise KeyDecodeError(f"unterminated string or binary at offset {offset}")
        out += data[position:zero]
        marker = data[zero + 1]
        if marker == 0x01:
            return bytes(out), zero + 2
        if marker != 0xFF:
            raise KeyDecodeError(f"bad escape 0x00 0x{marker:02x} at offset {zero}")
        out.append(0)
        position = zero + 2


# ---------------------------------------------------------------- numbers


def _encode_number(parts: NumberParts) -> bytes:
    if parts.is_zero:
        return bytes([NUMBER_ZERO])
    exponent = parts.adjusted + 1
    biased = exponent + EXPONENT_BIAS
    assert 0 <= biased <= 0xFFFF, exponent  # validated keys have -129 <= exponent <= 126
    digits = parts.digits if len(parts.digits) % 2 == 0 else parts.digits + "0"
    pairs = [int(digits[i : i + 2]) for i in range(0, len(digits), 2)]
    assert pairs[-1] > 0, parts  # normal form: no trailing zeros
    mantissa = bytes([2 * p + 1 for p in pairs[:-1]] + [2 * pairs[-1]])
    if parts.negative:
        head = bytes([NUMBER_NEGATIVE]) + (0xFFFF - biased).to_bytes(2, "big")
        return head + bytes(255 - b for b in mantissa)
    return bytes([NUMBER_POSITIVE]) + biased.to_bytes(2, "big") + mantissa


def _decode_number(data: bytes, offset: int) -> tuple[NumberParts, int]:
    if offset >= len(data):
        raise KeyDecodeError(f"missing number at offset {offset}")
    tag = data[offset]
    if tag == NUMBER_ZERO:
        return NumberParts(False, "", 0), offset + 1
    if tag not in (NUMBER_NEGATIVE, NUMBER_POSITIVE):
        raise KeyDecodeError(f"bad number tag 0x{tag:02x} at offset {offset}")
    negative = tag == NUMBER_NEGATIVE
    if offset + 3 > len(data):
        raise KeyDecodeError(f"truncated number exponent at offset {offset}")
    biased = int.from_bytes(data[offset + 1 : offset + 3], "big")
    exponent = (0xFFFF - biased if negative else biased) - EXPONENT_BIAS
    digits: list[str] = []
    position = offset + 3
    while True:
        if position >= len(data):
            raise KeyDecodeError(f"unterminated number mantissa at offset {offset}")
        byte = 255 - data[position] if negative else data[position]
        position += 1
        pair, is_last = byte // 2, byte % 2 == 0
        # normal form: the first digit and the last pair are never zero
        if pair > 99 or (is_last and pair == 0) or (not digits and pair < 10):
            raise KeyDecodeError(f"bad mantissa byte at offset {position - 1}")
        digits.append(f"{pair:02d}")
        if is_last:
            break
    return NumberParts(negative, "".join(digits).rstrip("0"), exponent - 1), position


# ---------------------------------------------------------------- one key value


def _single(value: Mapping[str, Any]) -> tuple[str, Any]:
    ((tag, payload),) = value.items()
    return tag, payload


def encode_key_value(value: Mapping[str, Any]) -> bytes:
    """The order-preserving, self-delimiting encoding of one S, N or B key value."""
    tag, payload = _single(value)
    if tag == "S":
        return _encode_bytes(payload.encode("utf-8"))
    if tag == "B":
        return _encode_bytes(bytes(payload))
    if tag == "N":
        return _encode_number(parse_number(payload))
    raise ValueError(f"key attributes are S, N or B, not {tag}")


def encode_key_prefix(value: Mapping[str, Any]) -> bytes:
    """The bytes every encoding of an S or B value starting with ``value`` starts with.

    For ``begins_with`` on a sort key: ``[encode_key_prefix(p), prefix_end(...))`` spans exactly
    the values that begin with ``p``.
    """
    tag, payload = _single(value)
    if tag == "S":
        return payload.encode("utf-8").replace(b"\x00", ESCAPED_ZERO)
    if tag == "B":
        return bytes(payload).replace(b"\x00", ESCAPED_ZERO)
    raise ValueError(f"begins_with applies to S or B, not {tag}")


def decode_key_value_at(data: bytes, offset: int, key_type: str) -> tuple[AttributeValue, int]:
    """Decode one key value of type ``key_type`` starting at ``offset``; return it and the end."""
    if key_type == "S":
        raw, end = _decode_bytes(data, offset)
        try:
            return {"S": raw.decode("utf-8")}, end
        except UnicodeDecodeError as exc:
            raise KeyDecodeError(f"invalid UTF-8 in string key at offset {offset}") from exc
    if key_type == "B":
        raw, end = _decode_bytes(data, offset)
        return {"B": raw}, end
    if key_type == "N":
        parts, end = _decode_number(data, offset)
        return {"N": parts_to_text(parts)}, end
    raise ValueError(f"key attributes are S, N or B, not {key_type}")


def decode_key_value(data: bytes, key_type: str) -> AttributeValue:
    """Decode bytes holding exactly one key value of type ``key_type``."""
    value, end = decode_key_value_at(data, 0, key_type)
    if end != len(data):
        raise KeyDecodeError(f"{len(data) - end} trailing bytes after a {key_type} key value")
    return value


# ---------------------------------------------------------------- whole primary keys


def encode_item_key(
    partition_value: Mapping[str, Any], sort_value: Mapping[str, Any] | None = None
) -> bytes:
    """The storage key of an item: its partition key value's encoding, then its sort key's."""
    encoded = encode_key_value(partition_value)
    if sort_value is not None:
        encoded += encode_key_value(sort_value)
    return encoded


def decode_item_key(
    data: bytes, partition_type: str, sort_type: str | None = None, *, offset: int = 0
) -> tuple[AttributeValue, AttributeValue | None]:
    """Invert ``encode_item_key`` (from ``offset`` to the end of ``data``)."""
    partition_value, end = decode_key_value_at(data, offset, partition_type)
    sort_value = None
    if sort_type is not None:
        sort_value, end = decode_key_value_at(data, end, sort_type)
    if end != len(data):
        raise KeyDecodeError(f"{len(data) - end} trailing bytes after an item key")
    return partition_value, sort_value


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with ``prefix`` (``None``: no bound).

    ``[encode_key_value(pk), prefix_end(encode_key_value(pk)))`` holds one item collection.
    """
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def key_hash(partition_value: Mapping[str, Any]) -> int:
    """The 64-bit key hash of a partition key value; stable across processes and machines.

    BLAKE2b (8-byte digest) of the value's encoding, read big-endian; equal numbers written
    differently (``"1"``, ``"1.0"``) hash equally because the encoding is canonical.
    """
    digest = hashlib.blake2b(encode_key_value(partition_value), digest_size=KEY_HASH_BYTES)
    return int.from_bytes(digest.digest(), "big")
