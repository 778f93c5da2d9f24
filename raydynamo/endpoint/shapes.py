"""Request bodies into the router's request dicts, checked against botocore's DynamoDB model.

Role: what DynamoDB's front end does between the JSON text and the operation: every member is
checked against its shape in botocore's ``dynamodb`` service model (the same model boto3
serializes from), with the front end's ``SerializationException`` wording as AWS answers it
(captured by dynalite against DynamoDB): a JSON number where a string belongs is ``class
java.lang.Integer can not be converted to an String``, an array where a map belongs is ``Start of
list found where not expected``, and so on. Binary members (``B``, ``BS``) are decoded from
base64, strictly (length a multiple of 4, alphabet, canonical last character), into ``bytes``,
which is what the router takes. Members the model does not know are dropped, as DynamoDB drops
them, and JSON ``null`` counts as absent. Numbers stay exact: JSON numbers arrive as ``int`` or
``Decimal`` (``parse_json``), attribute numbers as the strings they are on the wire.

Bounds: the JSON parser refuses documents nested past the interpreter's recursion limit, and
attribute values are followed only to DynamoDB's 32 levels (plus one): anything deeper is handed
on as it is, for the router to refuse with DynamoDB's nesting error, so no input can make this
module recurse without bound.

Pure: must not import ray or rocksdict (botocore is a plain library).
"""

from __future__ import annotations

import binascii
import functools
import json
import re
from collections.abc import Callable
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from raydynamo.api.errors import SerializationException

ATTRIBUTE_VALUE_SHAPE = "AttributeValue"
ATTRIBUTE_LEVELS_FOLLOWED_MAX = 33  # DynamoDB's 32 levels, plus the one it refuses
SHOWN_VALUE_CHARS_MAX = 200  # a wrong 400 KB value must not make a 400 KB message
_BASE64_ALPHABET = re.compile(r"[^A-Za-z0-9+/=]|=[^=]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


@functools.cache
def service_model() -> ServiceModel:
    """botocore's DynamoDB model (loaded once per process)."""
    import botocore.session

    return botocore.session.get_session().get_service_model("dynamodb")


@functools.cache
def _operation_models() -> dict[str, OperationModel]:
    model = service_model()
    return {name: model.operation_model(name) for name in model.operation_names}


def operation_model(operation: str) -> OperationModel | None:
    """The model of ``operation``, or None when DynamoDB has no such operation."""
    return _operation_models().get(operation)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def parse_json(body: bytes) -> Any:
    """The JSON document of a request body: exact numbers, no NaN, UTF-8 only.

    Raises ``SerializationException`` for anything that is not such a document, including a
    ``\\ud800``-style escape of half a character (a lone surrogate, which no UTF-8 text holds).
    """
    try:
        text = body.decode("utf-8")
        document = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except RecursionError:
        raise SerializationException("The document is nested too deeply") from None
    except UnicodeDecodeError:
        raise SerializationException("The request body is not valid UTF-8") from None
    except ValueError as err:
        raise SerializationException(f"Malformed JSON: {err}") from None
    if _SURROGATE_ESCAPE.search(text) is not None:  # rare: look closer only then
        try:
            json.dumps(document, ensure_ascii=False, default=str).encode("utf-8")
        except UnicodeEncodeError:
            raise SerializationException(
                "The request holds half of a UTF-16 surrogate pair, which is not valid UTF-8"
            ) from None
    return document


# ------------------------------------------------------------------------- the front end's words


def _shown(value: str) -> str:
    if len(value) > SHOWN_VALUE_CHARS_MAX:
        return value[:SHOWN_VALUE_CHARS_MAX] + "..."
    return value


def _number_class(value: int | Decimal) -> str:
    if isinstance(value, Decimal) and value != value.to_integral_value():
        return "java.lang.Double"
    if -32768 <= value <= 32767:
        return "java.lang.Short"
    if -(2**31) <= value <= 2**31 - 1:
        return "java.lang.Integer"
    return "java.lang.Long"


def _class_of(value: object) -> str:
    if isinstance(value, bool):
        return "java.lang.Boolean"
    if isinstance(value, str):
        return "java.lang.String"
    assert isinstance(value, int | Decimal)
    return _number_class(value)


def _container_error(value: object) -> SerializationException | None:
    if isinstance(value, list):
        return SerializationException("Start of list found where not expected")
    if isinstance(value, dict):
        return SerializationException("Start of structure or map found where not expected.")
    return None


def _scalar_error(value: object, target: str) -> SerializationException:
    wrong = _container_error(value)
    if wrong is not None:
        return wrong
    return SerializationException(f"class {_class_of(value)} can not be converted to {target}")


def decode_blob(value: str) -> bytes:
    """Strict base64 (DynamoDB refuses what a lenient decoder would guess at)."""
    prefix = f"'{_shown(value)}' can not be converted to a Blob: "
    if len(value) % 4:
        raise SerializationException(
            f"{prefix}Base64 encoded length is expected a multiple of 4 bytes but found: "
            f"{len(value)}"
        )
    bad = _BASE64_ALPHABET.search(value)
    if bad is not None:
        raise SerializationException(f"{prefix}Invalid Base64 character: '{bad.group(0)[0]}'")
    try:
        decoded = binascii.a2b_base64(value, strict_mode=True)
    except binascii.Error:
        decoded = None
    if decoded is None or binascii.b2a_base64(decoded, newline=False).decode() != value:
        # DynamoDB's own spelling of "detected"
        raise SerializationException(f"{prefix}Invalid last non-pad Base64 character dectected")
    return decoded


# ------------------------------------------------------------------------- decoders per shape

Decoder = Callable[[Any, int], Any]


def _string(value: Any, level: int) -> Any:
    if isinstance(value, str):
        return value
    raise _scalar_error(value, "an String")


def _boolean(value: Any, level: int) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal) and value != value.to_integral_value():
        return abs(value) >= 1  # DynamoDB takes a fractional number as a boolean
    if isinstance(value, str):
        shown = _shown(value.upper())
        raise SerializationException(f"'{shown}' can not be converted to an Boolean")
    raise _scalar_error(value, "an Boolean")


def _integer(type_name: str) -> Decoder:
    def decode(value: Any, level: int) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise _scalar_error(value, f"an {type_name}")
        if isinstance(value, Decimal):  # DynamoDB rounds a fractional number down
            return int(value.to_integral_value(rounding=ROUND_FLOOR))
        return value

    return decode


def _blob(value: Any, level: int) -> Any:
    if isinstance(value, str):
        return decode_blob(value)
    raise _scalar_error(value, "a Blob")


class ShapeDecoders:
    """One decoding function per botocore shape, built once and cached by shape name."""

    def __init__(self) -> None:
        self._decoders: dict[str, Decoder] = {}

    def decode_input(self, model: OperationModel, document: Any) -> dict[str, Any]:
        """The router's request for ``document``, the parsed body of ``model``'s request."""
        shape = model.input_shape
        if shape is None:
            return {}
        decoded = self.decoder(shape)(document, 0)
        return decoded if decoded is not None else {}

    def decoder(self, shape: Shape) -> Decoder:
        known = self._decoders.get(shape.name)
        if known is not None:
            return known
        # A placeholder first, so recursive shapes (AttributeValue) find themselves.
        cell: list[Decoder] = []
        self._decoders[shape.name] = lambda value, level: cell[0](value, level)
        built = self._build(shape)
        cell.append(built)
        self._decoders[shape.name] = built
        return built

    def _build(self, shape: Shape) -> Decoder:
        kind = shape.type_name
        if kind == "structure":
            return self._structure(shape)
        if kind == "list":
            return self._list(shape)
        if kind == "map":
            return self._map(shape)
        if kind == "string":
            return _string
        if kind == "boolean":
            return _boolean
        if kind in ("integer", "long"):
            return _integer("Integer" if kind == "integer" else "Long")
        if kind == "blob":
            return _blob
        raise NotImplementedError(f"no decoder for {kind} shapes ({shape.name})")

    def _structure(self, shape: Shape) -> Decoder:
        members = {name: self.decoder(member) for name, member in shape.members.items()}
        attribute_value = shape.name == ATTRIBUTE_VALUE_SHAPE

        def decode(value: Any, level: int) -> Any:
            if not isinstance(value, dict):
                if isinstance(value, list):
                    raise SerializationException("Start of list found where not expected")
                raise SerializationException("Expected null")
            if attribute_value:
                level += 1
                if level > ATTRIBUTE_LEVELS_FOLLOWED_MAX:
                    return value  # the router refuses it with DynamoDB's nesting error
            decoded = {}
            for name, member_value in value.items():
                member = members.get(name)
                if member is not None and member_value is not None:
                    decoded[name] = member(member_value, level)
            return decoded

        return decode

    def _list(self, shape: Shape) -> Decoder:
        member = self.decoder(shape.member)

        def decode(value: Any, level: int) -> Any:
            if not isinstance(value, list):
                if isinstance(value, dict):
                    raise SerializationException(
                        "Start of structure or map found where not expected."
                    )
                raise SerializationException("Expected list or null")
            return [member(item, level) if item is not None else None for item in value]

        return decode

    def _map(self, shape: Shape) -> Decoder:
        value_decoder = self.decoder(shape.value)

        def decode(value: Any, level: int) -> Any:
            if not isinstance(value, dict):
                if isinstance(value, list):
                    raise SerializationException("Start of list found where not expected")
                raise SerializationException("Expected map or null")
            return {
                key: value_decoder(item, level) for key, item in value.items() if item is not None
            }

        return decode
