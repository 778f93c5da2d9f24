"""Request-shape checks for the table management operations, in DynamoDB's two validator voices.

DynamoDB answers a request that breaks a declared member constraint (null, length, pattern, enum,
range) with *every* violation it found, in one ``ValidationException``::

    1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: Member
    must have length greater than or equal to 3
    2 validation errors detected: Value '0' at 'provisionedThroughput.writeCapacityUnits' ...; Value
    '0' at 'provisionedThroughput.readCapacityUnits' ...

``Violations`` collects them in the order they are checked and raises them together. Member
paths are camelCase (``keySchema.1.member.keyType``, 1-based), as DynamoDB prints them. The order
of two violations of the same member varies in DynamoDB itself (a probe of DescribeTable printed
length before pattern, ListTables and CreateBackup pattern before length); we always print the
pattern first.

A member of the wrong Python type (``TableName=5``) is a ``SerializationException`` raised at
once, worded like botocore's parameter validation (what a boto3 user sees for it).

Pure: no ray, no rocksdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from raydynamo.api.errors import SerializationException, ValidationException

TABLE_NAME_PATTERN = "[a-zA-Z0-9_.-]+"
TABLE_NAME_LENGTH_MIN = 3
TABLE_NAME_LENGTH_MAX = 255
_TABLE_NAME_RE = re.compile(r"[a-zA-Z0-9_.\-]+")
_SHOWN_VALUE_CHARS_MAX = 200  # a huge wrong value must not make a huge message
# DynamoDB echoes a refused value in full; every member checked here is far shorter than this
# when valid, and a runaway value must still not make a runaway message
_ECHOED_VALUE_CHARS_MAX = 4096


def required_parameter_missing(name: str) -> ValidationException:
    """DynamoDB's answer when a required top-level parameter is absent."""
    return ValidationException(
        f"The parameter '{name}' is required but was not present in the request"
    )


def wrong_type(value: object, param: str, valid: Sequence[type]) -> SerializationException:
    """A member of the wrong Python type, worded like botocore's parameter validation."""
    shown = repr(value)
    if len(shown) > _SHOWN_VALUE_CHARS_MAX:
        shown = shown[:_SHOWN_VALUE_CHARS_MAX] + "..."
    names = ", ".join(str(t) for t in valid)
    return SerializationException(
        f"Invalid type for parameter {param}, value: {shown}, type: {type(value)}, "
        f"valid types: {names}"
    )


def check_type(value: object, param: str, *valid: type) -> None:
    """Raise ``wrong_type`` unless ``value`` is one of ``valid`` (``bool`` is never an ``int``)."""
    if isinstance(value, bool) and bool not in valid:
        raise wrong_type(value, param, valid)
    if not isinstance(value, valid):
        raise wrong_type(value, param, valid)


def check_known_parameters(request: Mapping[str, Any], known: Iterable[str]) -> None:
    """Refuse a parameter the operation does not have, as botocore does before sending."""
    known_names = tuple(known)
    for name in request:
        if name not in known_names:
            # botocore's client-side wording; DynamoDB itself never sees such a request
            raise ValidationException(
                f'Unknown parameter in input: "{name}", must be one of: {", ".join(known_names)}'
            )


def _shown(value: object) -> str:
    if value is None:
        return "null"
    text = str(value)
    if len(text) > _ECHOED_VALUE_CHARS_MAX:
        text = text[:_ECHOED_VALUE_CHARS_MAX] + "..."
    return f"'{text}'"


class Violations:
    """Collects member-constraint violations and raises them as one ``ValidationException``."""

    def __init__(self) -> None:
        self._messages: list[str] = []

    def __bool__(self) -> bool:
        return bool(self._messages)

    def add(self, value: object, path: str, constraint: str) -> None:
        self._messages.append(
            f"Value {_shown(value)} at '{path}' failed to satisfy constraint: {constraint}"
        )

    def not_null(self, value: object, path: str) -> bool:
        """Record a null member; True when the member is present."""
        if value is None:
            self.add(None, path, "Member must not be null")
            return False
        return True

    def length_between(self, value: Any, path: str, low: int, high: int, size: int) -> None:
        """``size`` is the measured length (characters, bytes or members, as the member needs)."""
        if size < low:
            self.add(value, path, f"Member must have length greater than or equal to {low}")
        elif size > high:
            self.add(value, path, f"Member must have length less than or equal to {high}")

    def one_of(self, value: object, path: str, allowed: Sequence[str]) -> None:
        if value not in allowed:
            self.add(value, path, f"Member must satisfy enum value set: [{', '.join(allowed)}]")

    def at_least(self, value: int, path: str, low: int) -> None:
        if value < low:
            self.add(value, path, f"Member must have value greater than or equal to {low}")

    def at_most(self, value: int, path: str, high: int) -> None:
        if value > high:
            self.add(value, path, f"Member must have value less than or equal to {high}")

    def table_name(self, value: str, path: str) -> None:
        """The name rules of tables (and of the ListTables cursor): pattern, then length."""
        if not _TABLE_NAME_RE.fullmatch(value):
            self.add(
                value, path, f"Member must satisfy regular expression pattern: {TABLE_NAME_PATTERN}"
            )
        self.length_between(value, path, TABLE_NAME_LENGTH_MIN, TABLE_NAME_LENGTH_MAX, len(value))

    def raise_if_any(self) -> None:
        count = len(self._messages)
        if count == 0:
            return
        noun = "error" if count == 1 else "errors"
        raise ValidationException(
            f"{count} validation {noun} detected: {'; '.join(self._messages)}"
        )
