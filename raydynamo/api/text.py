"""Requests whose strings are not valid Unicode text: found once, refused as DynamoDB would.

Role: a Python ``str`` can hold a lone surrogate (a code point in U+D800..U+DFFF outside a
pair), which a JSON ``"\\ud800"`` escape or a Python caller can produce but which has no UTF-8
encoding. DynamoDB only ever receives UTF-8, so such a string can name no table, attribute or
value; left in a request it fails far away (``UnicodeEncodeError`` in msgpack, in the stored item,
in an HTTP response that echoes it). ``refuse_lone_surrogates`` walks a whole request (every
string, map keys included) before anything else looks at it and raises a ``ValidationException``
that says where the first one is.

Invariants: never mutates the request; iterative, so no nesting depth exhausts the stack; raises
nothing but ``ValidationException``; the message never contains a lone surrogate itself (the
offending name is shown escaped, ``\\ud800``). Pure: must not import ray or rocksdict.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from raydynamo.api.errors import ValidationException

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SHOWN_PATH_CHARS_MAX = 200
# wording unverified: no public capture shows DynamoDB's answer (its JSON parser would see the
# escape); ValidationException with the "One or more parameter values were invalid" voice.
LONE_SURROGATE_MESSAGE = (
    "One or more parameter values were invalid: {where} is not valid UTF-8 text "
    "(it holds an unpaired surrogate code point)"
)


def has_lone_surrogate(text: str) -> bool:
    """True when ``text`` cannot be encoded as UTF-8."""
    return not text.isascii() and _LONE_SURROGATE.search(text) is not None


_SCALARS = (bytes, bytearray, int, float, bool, type(None))


def _first_bad_string(value: object) -> bool:
    """True when any string in ``value`` (keys included) holds a lone surrogate (fast path:
    exact-type tests first, as requests are plain dicts, lists and strings)."""
    stack = [value]
    while stack:
        current = stack.pop()
        kind = type(current)
        if kind is str:
            if not current.isascii() and _LONE_SURROGATE.search(current):  # type: ignore[attr-defined]
                return True
        elif kind is dict:
            for key, child in current.items():  # type: ignore[attr-defined]
                if type(key) is str and not key.isascii() and _LONE_SURROGATE.search(key):
                    return True
                stack.append(child)
        elif kind is list or kind is tuple:
            stack.extend(current)  # type: ignore[arg-type]
        elif kind in _SCALARS:
            continue
        elif isinstance(current, str):
            if has_lone_surrogate(current):
                return True
        elif isinstance(current, Mapping):
            for key, child in current.items():
                if isinstance(key, str) and has_lone_surrogate(key):
                    return True
                stack.append(child)
        elif isinstance(current, list | tuple | set | frozenset):
            stack.extend(current)
    return False


def _escaped(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _where(value: object, root: str) -> str:
    """The path of the first bad string, as ``Item.name.M.[key]`` (slow path: only on failure)."""
    stack: list[tuple[object, str]] = [(value, root)]
    while stack:
        current, path = stack.pop()
        if isinstance(current, str):
            if has_lone_surrogate(current):
                return path
        elif isinstance(current, Mapping):
            for key, child in current.items():
                if isinstance(key, str) and has_lone_surrogate(key):
                    shown = f"'{_escaped(key)}'"
                    return f"the name {shown} in {path}" if path else shown
                stack.append((child, f"{path}.{key}" if path else str(key)))
        elif isinstance(current, list | tuple | set | frozenset):
            stack.extend((child, f"{path}[{index}]") for index, child in enumerate(current))
    return root or "the request"


def refuse_lone_surrogates(request: Any, *, root: str = "") -> None:
    """Raise a ``ValidationException`` when any string of ``request`` holds a lone surrogate."""
    if not _first_bad_string(request):
        return
    where = _where(request, root) or "the request"
    if len(where) > _SHOWN_PATH_CHARS_MAX:
        where = where[:_SHOWN_PATH_CHARS_MAX] + "..."
    raise ValidationException(LONE_SURROGATE_MESSAGE.format(where=where))
