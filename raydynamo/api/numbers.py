"""DynamoDB numbers: parsing, the range and precision rules, canonical text, size and arithmetic.

A DynamoDB number is a decimal with at most 38 significant digits whose magnitude lies between
1E-130 and 9.9999999999999999999999999999999999999E+125 (or is zero). On the wire it is a string
(``{"N": "1.50"}``); DynamoDB answers with the canonical text of the value: no exponent, no leading
or trailing zeros, no sign on zero (``"0042.1200"`` -> ``"42.12"``, ``"1E2"`` -> ``"100"``,
``"-0"`` -> ``"0"``).

Invariants:
- Parsing is exact (never rounds): a value either passes the rules and keeps every digit, or raises
  ``ValidationException`` with DynamoDB's wording.
- ``NumberParts`` is the one normal form used by comparison, sizing and key encoding: two texts
  denote the same number exactly when their ``NumberParts`` are equal.
- The grammar is Java ``BigDecimal``'s (what DynamoDB accepts): optional sign, ASCII digits with
  an optional point, optional exponent. No spaces, no ``NaN``/``Infinity``, no ``_`` or non-ASCII
  digits (Python's ``Decimal`` accepts all of those, so it is not used to parse).

Messages are the ones DynamoDB's current validation layer gives for PutItem/UpdateItem/DeleteItem/
GetItem/Query (captured against AWS by the paritysuite/dynamodb-conformance suite); the operation
layer adds the ``"1 validation error detected: "`` envelope where DynamoDB does.

This module is pure: it must not import ray or rocksdict.
"""

from __future__ import annotations

import decimal
import re
from decimal import Decimal
from typing import NamedTuple

from raydynamo.api.errors import ValidationException

NUMBER_DIGITS_MAX = 38
ADJUSTED_EXPONENT_MAX = 125  # 9.99...E+125: the most significant digit sits at 10**125 at most
ADJUSTED_EXPONENT_MIN = -130  # 1E-130: the most significant digit sits at 10**-130 at least
_EXPONENT_ABS_MAX = 2**63  # an exponent outside a signed 64-bit integer "cannot be converted"

NUMBER_NOT_NUMERIC = "The parameter cannot be converted to a numeric value"
NUMBER_OVERFLOW = (
    "Number overflow. Attempting to store a number with magnitude larger than supported range"
)
NUMBER_UNDERFLOW = (
    "Number underflow. Attempting to store a number with magnitude smaller than supported range"
)
NUMBER_TOO_PRECISE = "Attempting to store more than 38 significant digits in a Number"

# sign, integer digits, fraction digits (after the point), exponent digits
_NUMBER_RE = re.compile(r"([+-]?)(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))(?:[eE]([+-]?[0-9]+))?")

# Exact arithmetic on two in-range numbers needs at most ~260 digits (125 + 130 + 38 + carry).
_ARITHMETIC_CONTEXT = decimal.Context(prec=400, Emax=10**6, Emin=-(10**6), traps=[])


class NumberParts(NamedTuple):
    """A number in normal form: ``(-1 if negative) * 0.d1d2...dn * 10**(adjusted + 1)``.

    ``digits`` has no leading or trailing zeros; ``adjusted`` is the power of ten of the most
    significant digit. Zero has exactly one normal form, ``ZERO`` (empty digits, adjusted 0).
    """

    negative: bool
    digits: str
    adjusted: int

    @property
    def is_zero(self) -> bool:
        return not self.digits


ZERO = NumberParts(False, "", 0)


def _not_numeric(text: str) -> ValidationException:
    return ValidationException(f"{NUMBER_NOT_NUMERIC}: {text}")


def parse_number(text: object) -> NumberParts:
    """Parse and check a number's text; raise ``ValidationException`` with DynamoDB's wording."""
    if not isinstance(text, str):
        raise ValidationException(NUMBER_NOT_NUMERIC)
    match = _NUMBER_RE.fullmatch(text)
    if match is None:
        raise _not_numeric(text)
    sign, int_part, frac_part, frac_only, exp_text = match.groups()
    int_part = int_part or ""
    frac_part = (frac_only if frac_only is not None else frac_part) or ""
    exponent = 0
    if exp_text:
        exp_digits = exp_text.lstrip("+-").lstrip("0")
        if len(exp_digits) > 19:  # avoids int() on huge strings; 2**63 has 19 digits
            raise _not_numeric(text)
        exponent = int(exp_text)
        if not -_EXPONENT_ABS_MAX <= exponent < _EXPONENT_ABS_MAX:
            raise _not_numeric(text)
    all_digits = int_part + frac_part
    # power of ten of the last written digit
    last_power = exponent - len(frac_part)
    stripped = all_digits.lstrip("0")
    if not stripped:
        # DynamoDB range-checks zero by the exponent it is written with ("0e126" overflows)
        check_number_range(NumberParts(False, "", last_power))
        return ZERO
    adjusted = last_power + len(stripped) - 1
    parts = NumberParts(sign == "-", stripped.rstrip("0"), adjusted)
    check_number_range(parts)
    return parts


def check_number_range(parts: NumberParts) -> None:
    """Raise DynamoDB's overflow, underflow or precision error when ``parts`` is out of range."""
    if parts.adjusted > ADJUSTED_EXPONENT_MAX:
        raise ValidationException(NUMBER_OVERFLOW)
    if parts.adjusted < ADJUSTED_EXPONENT_MIN:
        raise ValidationException(NUMBER_UNDERFLOW)
    if len(parts.digits) > NUMBER_DIGITS_MAX:
        raise ValidationException(NUMBER_TOO_PRECISE)


def parts_to_text(parts: NumberParts) -> str:
    """The canonical text of a number in normal form (plain notation, no exponent)."""
    if parts.is_zero:
        return "0"
    digits, adjusted = parts.digits, parts.adjusted
    if adjusted < 0:
        body = "0." + "0" * (-adjusted - 1) + digits
    elif adjusted + 1 >= len(digits):
        body = digits + "0" * (adjusted + 1 - len(digits))
    else:
        body = digits[: adjusted + 1] + "." + digits[adjusted + 1 :]
    return "-" + body if parts.negative else body


def canonical_number(text: str) -> str:
    """DynamoDB's normalized text of a number: ``"1.50"`` -> ``"1.5"``, ``"1E2"`` -> ``"100"``."""
    return parts_to_text(parse_number(text))


def to_decimal(text: str) -> Decimal:
    """The exact ``Decimal`` value of a valid number text (raises on invalid numbers)."""
    return parts_to_decimal(parse_number(text))


def parts_to_decimal(parts: NumberParts) -> Decimal:
    if parts.is_zero:
        return Decimal(0)
    exponent = parts.adjusted - len(parts.digits) + 1
    return Decimal((1 if parts.negative else 0, tuple(int(d) for d in parts.digits), exponent))


def decimal_to_parts(value: Decimal) -> NumberParts:
    """The normal form of a finite ``Decimal`` (no range check)."""
    if not value.is_finite():
        raise ValidationException(NUMBER_NOT_NUMERIC)
    sign, digit_tuple, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    if not digits:
        return ZERO
    adjusted = exponent + len(digits) - 1
    return NumberParts(bool(sign), digits.rstrip("0"), adjusted)


def from_decimal(value: Decimal | int) -> str:
    """Check a computed value against DynamoDB's rules and return its canonical text."""
    parts = decimal_to_parts(Decimal(value))
    check_number_range(parts)
    return parts_to_text(parts)


def _arithmetic_result(value: Decimal) -> str:
    parts = decimal_to_parts(value)
    # DynamoDB reports a sum needing more than 38 digits as an overflow, not as a precision error
    # (observed by ScyllaDB's test_number.py::test_update_expression_plus_imprecise).
    if len(parts.digits) > NUMBER_DIGITS_MAX:
        raise ValidationException(NUMBER_OVERFLOW)
    check_number_range(parts)
    return parts_to_text(parts)


def add_numbers(left: str, right: str) -> str:
    """``left + right`` exactly, as UpdateExpression ``SET a = b + c`` computes it."""
    total = _ARITHMETIC_CONTEXT.add(to_decimal(left), to_decimal(right))
    return _arithmetic_result(total)


def subtract_numbers(left: str, right: str) -> str:
    """``left - right`` exactly, as UpdateExpression ``SET a = b - c`` computes it."""
    difference = _ARITHMETIC_CONTEXT.subtract(to_decimal(left), to_decimal(right))
    return _arithmetic_result(difference)


def compare_numbers(left: str, right: str) -> int:
    """-1, 0 or 1 as ``left`` is less than, equal to or greater than ``right`` (exact)."""
    a, b = to_decimal(left), to_decimal(right)
    return (a > b) - (a < b)


def number_size(text: str) -> int:
    """Bytes a number counts for in an item's size.

    DynamoDB stores a number as base-100 digits aligned on the decimal point, plus one byte of
    exponent and one more for a negative sign (the layout of Oracle's NUMBER). So the size is
    1 + (base-100 digits from the most to the least significant non-zero one) + (1 if negative),
    and zero is 1. This agrees with every literal the paritysuite/dynamodb-conformance suite
    measured against AWS to the byte (e.g. "3.14159" -> 5, "123456" -> 4, "100.5" -> 4,
    "1E125" -> 2, "-42" -> 3, "-0" -> 1), and with dynalite's formula.
    """
    return parts_size(parse_number(text))


def parts_size(parts: NumberParts) -> int:
    if parts.is_zero:
        return 1
    least_power = parts.adjusted - len(parts.digits) + 1
    centesimal_digits = parts.adjusted // 2 - least_power // 2 + 1
    return 1 + centesimal_digits + (1 if parts.negative else 0)
