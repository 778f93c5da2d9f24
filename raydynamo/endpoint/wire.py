"""DynamoDB's JSON 1.0 wire format: error bodies, response bodies, their headers.

Role: everything about how a DynamoDB answer looks on the wire, and nothing about HTTP servers.

- Errors: the HTTP status of the error class (400; 500 for ``InternalServerError``, 503 for
  ``ServiceUnavailable``, 413 for a request over DynamoDB's 16 MB limit) and a body
  ``{"__type": "<namespace>#<Code>", "message": ...}`` plus the error's modeled members
  (``Item`` of a ``ConditionalCheckFailedException``...). The namespace is the one DynamoDB
  uses for that code: ``com.amazon.coral.validate`` for ``ValidationException``,
  ``com.amazon.coral.service`` for the front end's own refusals (serialization, unknown
  operation, authentication), ``com.amazon.coral.availability`` for ``ThrottlingException``
  and ``com.amazonaws.dynamodb.v20120810`` for the rest. botocore keeps what follows the
  ``#``; other SDKs read the whole ``__type``.
- Bodies: compact JSON; binary values (``bytes``) as base64 text, timestamps as epoch seconds,
  attribute numbers as the exact strings they already are (never floats).
- Headers: ``Content-Type: application/x-amz-json-1.0``, ``x-amzn-RequestId`` (52 characters
  like DynamoDB's) and ``x-amz-crc32`` (unsigned CRC32 of the body bytes, which botocore
  checks for DynamoDB and retries on a mismatch).

The wire-only errors (the front end's refusals) are ``ClientError`` subclasses defined here.

Pure: must not import ray or rocksdict.
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from datetime import datetime
from decimal import Decimal
from typing import Any

from raydynamo.api.errors import ClientError

CONTENT_TYPE = "application/x-amz-json-1.0"
ACCEPTED_CONTENT_TYPES = frozenset({CONTENT_TYPE, "application/json"})
TARGET_PREFIX = "DynamoDB_20120810"
REQUEST_BYTES_MAX = 16 * 1024 * 1024  # DynamoDB's limit on one HTTP request (16 MB)
REQUEST_ID_CHARS = 52

DYNAMODB_NAMESPACE = "com.amazonaws.dynamodb.v20120810"
CORAL_SERVICE = "com.amazon.coral.service"
NAMESPACES: dict[str, str] = {
    "ValidationException": "com.amazon.coral.validate",
    "ThrottlingException": "com.amazon.coral.availability",
    "SerializationException": CORAL_SERVICE,
    "UnknownOperationException": CORAL_SERVICE,
    "MissingAuthenticationTokenException": CORAL_SERVICE,
    "UnrecognizedClientException": CORAL_SERVICE,
    "InvalidSignatureException": CORAL_SERVICE,
    "IncompleteSignatureException": CORAL_SERVICE,
    "RequestEntityTooLarge": CORAL_SERVICE,
}


class UnknownOperationException(ClientError):
    """The ``X-Amz-Target`` names no operation this endpoint serves."""

    code = "UnknownOperationException"


class MissingAuthenticationTokenException(ClientError):
    code = "MissingAuthenticationTokenException"


class UnrecognizedClientException(ClientError):
    code = "UnrecognizedClientException"


class InvalidSignatureException(ClientError):
    code = "InvalidSignatureException"


class IncompleteSignatureException(ClientError):
    code = "IncompleteSignatureException"


class RequestEntityTooLarge(ClientError):
    """The request is over DynamoDB's 16 MB limit (DynamoDB's front end answers 413)."""

    code = "RequestEntityTooLarge"
    http_status = 413


UNKNOWN_OPERATION = "Unknown operation exception"
MISSING_TOKEN = "Request is missing Authentication Token"
UNRECOGNIZED_KEY = "The security token included in the request is invalid."
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)
INTERNAL_ERROR = "Internal server error"


# Each random byte picks one of 32 characters: 256 is a multiple of 32, so all are equally likely
# (bytes.translate is ~15x cheaper than base64.b32encode, measured, and this runs per request).
_ID_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_ID_TABLE = bytes(_ID_ALPHABET[i % 32] for i in range(256))


def new_request_id() -> str:
    """A request id shaped like DynamoDB's: 52 characters of A-Z and 2-7."""
    return os.urandom(REQUEST_ID_CHARS).translate(_ID_TABLE).decode("ascii")


def error_type(code: str) -> str:
    """The ``__type`` DynamoDB sends for ``code``."""
    return f"{NAMESPACES.get(code, DYNAMODB_NAMESPACE)}#{code}"


def error_body(err: ClientError) -> dict[str, Any]:
    """The JSON object of an error answer: ``__type``, ``message``, modeled members."""
    code = err.response["Error"]["Code"]
    body: dict[str, Any] = {"__type": error_type(code), "message": err.message}
    extra = err.to_wire().get("extra") or {}
    for name, value in extra.items():
        if name not in body:
            body[name] = value
    return body


def _json_default(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return value.timestamp()  # botocore reads JSON timestamps as epoch seconds
    if isinstance(value, Decimal):
        return float(value)  # only Double members (capacity units) are numbers on the wire
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def encode_body(document: dict[str, Any]) -> bytes:
    """Compact JSON of a response or error object (raises ``TypeError`` on alien values)."""
    return json.dumps(document, separators=(",", ":"), default=_json_default).encode("ascii")


def response_headers(body: bytes, request_id: str) -> list[tuple[bytes, bytes]]:
    """The headers of every JSON answer, in ASGI form."""
    return [
        (b"content-type", CONTENT_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"x-amzn-requestid", request_id.encode()),
        (b"x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF).encode()),
    ]
