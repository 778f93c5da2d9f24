"""The endpoint at the wire, in front of a recording in-process handler (no Ray).

Real sockets to a real server: every answer's headers, what the handler receives (base64
decoded, exact numbers, unknown members dropped), how its errors travel, and every bad input a
client can send (malformed or mistyped JSON, bad base64, unknown targets, bodies past 16 MB with
or without a Content-Length, gzip, absurd nesting), each answered with DynamoDB's error.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import gzip
import json
import threading
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from raydynamo.api.errors import (
    ConditionalCheckFailedException,
    InternalServerError,
    ServiceUnavailable,
    ValidationException,
)
from raydynamo.config import config_from_dict
from tests.endpoint_support import RawResponse, boto3_client, raw_request, serving, with_endpoint

SIXTEEN_MB = 16 * 1024 * 1024
ENDPOINT_PACKAGE = Path(__file__).resolve().parent.parent / "raydynamo" / "endpoint"


class RecordingHandler:
    """Answers by table name; remembers every request it was given."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.request_ids: list[str | None] = []
        self.concurrent = 0
        self.concurrent_peak = 0
        self.gate: asyncio.Event | None = None
        self.gate_size = 0

    async def call(
        self, operation: str, request: dict[str, Any], request_id: str | None = None
    ) -> dict[str, Any]:
        self.requests.append((operation, request))
        self.request_ids.append(request_id)
        table = request.get("TableName")
        if table == "gate":
            return await self._gated()
        if table == "invalid":
            raise ValidationException("One or more parameter values were invalid: nope")
        if table == "condition":
            raise ConditionalCheckFailedException(
                "The conditional request failed", extra={"Item": {"b": {"B": b"\x00\xff"}}}
            )
        if table == "unavailable":
            raise ServiceUnavailable("No replica of the partition answered in time")
        if table == "internal":
            raise InternalServerError("Internal server error")
        if table == "bug":
            raise KeyError("secret-internal-detail")
        if operation == "DescribeTable":
            created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
            return {"Table": {"TableName": table, "CreationDateTime": created}}
        return {"Item": {"b": {"B": b"\x01\x02"}, "bs": {"BS": [b"x", b"y"]}, "n": {"N": "1.5"}}}

    async def _gated(self) -> dict[str, Any]:
        if self.gate is None:
            self.gate = asyncio.Event()
        self.concurrent += 1
        self.concurrent_peak = max(self.concurrent_peak, self.concurrent)
        if self.concurrent >= self.gate_size:
            self.gate.set()
        try:
            await asyncio.wait_for(self.gate.wait(), 30)
        finally:
            self.concurrent -= 1
        return {}


@pytest.fixture(scope="module")
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture(scope="module")
def url(handler: RecordingHandler) -> Iterator[str]:
    config = with_endpoint(config_from_dict({}))
    with serving(config, handler) as address:
        yield address


def post(url: str, document: Any, operation: str = "PutItem", **options: Any) -> RawResponse:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return raw_request(url, body, operation=operation, **options)


def last_request(handler: RecordingHandler) -> dict[str, Any]:
    return handler.requests[-1][1]


def assert_error(answer: RawResponse, status: int, type_: str, message: str | None) -> None:
    assert answer.status == status
    assert answer.json()["__type"] == type_
    if message is not None:
        assert answer.message == message


SERIALIZATION = "com.amazon.coral.service#SerializationException"

# ---------------------------------------------------------------------------------- answers


def test_every_answer_carries_a_request_id_a_crc32_and_the_json_content_type(url: str) -> None:
    for answer in (
        post(url, {"TableName": "t", "Item": {"a": {"S": "x"}}}),
        post(url, {"TableName": "invalid"}),
        post(url, b"{not json"),
        raw_request(url, b"", method="GET", operation=None),
    ):
        request_id = answer.headers["x-amzn-requestid"]
        assert len(request_id) == 52 and request_id.isalnum() and request_id.isupper()
        assert int(answer.headers["x-amz-crc32"]) == zlib.crc32(answer.body)
    assert post(url, {"TableName": "t"}).headers["content-type"] == "application/x-amz-json-1.0"


def test_get_answers_a_health_check(url: str) -> None:
    answer = raw_request(url, b"", method="GET", operation=None)
    assert answer.status == 200
    assert answer.body.startswith(b"healthy")


def test_binary_values_are_decoded_for_the_handler_and_encoded_in_answers(
    url: str, handler: RecordingHandler
) -> None:
    answer = post(
        url,
        {
            "TableName": "t",
            "ExclusiveStartKey": {"k": {"B": base64.b64encode(b"\x00key").decode()}},
            "ExpressionAttributeValues": {":s": {"BS": ["YQ==", "Yg=="]}},
        },
        operation="Query",
    )
    assert answer.status == 200
    request = last_request(handler)
    assert request["ExclusiveStartKey"] == {"k": {"B": b"\x00key"}}
    assert request["ExpressionAttributeValues"] == {":s": {"BS": [b"a", b"b"]}}
    item = answer.json()["Item"]
    assert item["b"] == {"B": "AQI="}
    assert item["bs"] == {"BS": ["eA==", "eQ=="]}


def test_numbers_travel_as_exact_strings_never_floats(url: str, handler: RecordingHandler) -> None:
    digits = "0.12345678901234567890123456789012345678"
    answer = post(url, {"TableName": "t", "Item": {"n": {"N": digits}, "s": {"NS": ["1e125"]}}})
    assert answer.status == 200
    assert last_request(handler)["Item"] == {"n": {"N": digits}, "s": {"NS": ["1e125"]}}
    assert b'"N":"1.5"' in answer.body


def test_a_fractional_limit_is_rounded_down_as_dynamodb_does(
    url: str, handler: RecordingHandler
) -> None:
    post(url, b'{"TableName": "t", "Limit": 5.9}', operation="Scan")
    limit = last_request(handler)["Limit"]
    assert limit == 5 and type(limit) is int


def test_unknown_members_and_nulls_are_dropped(url: str, handler: RecordingHandler) -> None:
    post(
        url,
        {"TableName": "t", "Key": {"k": {"S": "a"}}, "Bogus": 1, "ConsistentRead": None},
        operation="GetItem",
    )
    assert last_request(handler) == {"TableName": "t", "Key": {"k": {"S": "a"}}}


def test_timestamps_travel_as_epoch_seconds(url: str) -> None:
    answer = post(url, {"TableName": "t"}, operation="DescribeTable")
    seconds = answer.json()["Table"]["CreationDateTime"]
    assert seconds == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()


# ---------------------------------------------------------------------------------- errors


def test_handler_errors_keep_their_code_message_status_and_members(url: str) -> None:
    assert_error(
        post(url, {"TableName": "invalid"}),
        400,
        "com.amazon.coral.validate#ValidationException",
        "One or more parameter values were invalid: nope",
    )
    condition = post(url, {"TableName": "condition"})
    assert_error(
        condition,
        400,
        "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "The conditional request failed",
    )
    assert condition.json()["Item"] == {"b": {"B": "AP8="}}
    assert post(url, {"TableName": "unavailable"}).status == 503
    assert post(url, {"TableName": "internal"}).status == 500


def test_an_unexpected_failure_is_an_internal_error_that_reveals_nothing(url: str) -> None:
    answer = post(url, {"TableName": "bug"})
    assert_error(
        answer,
        500,
        "com.amazonaws.dynamodb.v20120810#InternalServerError",
        "Internal server error",
    )
    assert b"secret-internal-detail" not in answer.body and b"Traceback" not in answer.body


def test_boto3_reads_codes_messages_and_members_of_errors(url: str) -> None:
    client = boto3_client(url)
    with pytest.raises(client.exceptions.ConditionalCheckFailedException) as caught:
        client.put_item(TableName="condition", Item={"a": {"S": "x"}})
    assert caught.value.response["Error"]["Message"] == "The conditional request failed"
    assert caught.value.response["Item"] == {"b": {"B": b"\x00\xff"}}
    with pytest.raises(client.exceptions.ClientError) as invalid:
        client.put_item(TableName="invalid", Item={"a": {"S": "x"}})
    assert invalid.value.response["Error"]["Code"] == "ValidationException"


# ---------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "body",
    [b"{", b'{"TableName": "t", ', b"}{", b"habababa", b"{7}", b'{"a": NaN}', b"\xff\xfe{}"],
)
def test_malformed_json_is_a_serialization_exception(url: str, body: bytes) -> None:
    assert_error(post(url, body), 400, SERIALIZATION, None)


def test_every_prefix_of_a_request_is_refused_cleanly(url: str) -> None:
    whole = b'{"TableName": "t", "Item": {"p": {"S": "x"}, "c": {"B": "YQ=="}}}'
    for end in range(1, len(whole)):
        answer = post(url, whole[:end])
        assert answer.status == 400
        assert answer.code == "SerializationException"


SHORT_AS_STRING = "class java.lang.Short can not be converted to an String"
MAP_HERE = "Start of structure or map found where not expected."
LIST_HERE = "Start of list found where not expected"
WRONG_TYPES = [
    ({"TableName": 5}, SHORT_AS_STRING),
    ({"TableName": 100000}, "class java.lang.Integer can not be converted to an String"),
    ({"TableName": True}, "class java.lang.Boolean can not be converted to an String"),
    ({"TableName": ["t"]}, LIST_HERE),
    ({"TableName": {}}, MAP_HERE),
    ({"TableName": "t", "Item": []}, LIST_HERE),
    ({"TableName": "t", "Item": "x"}, "Expected map or null"),
    ({"TableName": "t", "Item": {"a": "x"}}, "Expected null"),
    ({"TableName": "t", "Item": {"a": {"N": 5}}}, SHORT_AS_STRING),
    ({"TableName": "t", "Item": {"a": {"L": {}}}}, MAP_HERE),
    (
        {"TableName": "t", "Expected": {"a": {"Exists": "yes"}}},
        "'YES' can not be converted to an Boolean",
    ),
    ({"TableName": "t", "Expected": {"a": {"AttributeValueList": 1}}}, "Expected list or null"),
    ([], LIST_HERE),
    ("PutItem", "Expected null"),
]


@pytest.mark.parametrize(("document", "message"), WRONG_TYPES)
def test_wrong_json_types_get_dynamodb_s_serialization_errors(
    url: str, document: Any, message: str
) -> None:
    assert_error(post(url, document), 400, SERIALIZATION, message)


def test_wrong_json_types_in_numbers_and_booleans(url: str) -> None:
    answer = post(url, {"TableName": "t", "Limit": "5"}, operation="Scan")
    assert_error(
        answer, 400, SERIALIZATION, "class java.lang.String can not be converted to an Integer"
    )
    answer = post(url, {"TableName": "t", "ConsistentRead": 1}, operation="Scan")
    assert_error(
        answer, 400, SERIALIZATION, "class java.lang.Short can not be converted to an Boolean"
    )


BAD_BASE64 = [
    ("YWJj??!!", "Invalid Base64 character: '?'"),
    ("YWJjZGVmZ2g", "Base64 encoded length is expected a multiple of 4 bytes but found: 11"),
    ("YWJ=", "Invalid last non-pad Base64 character dectected"),
    ("YQ=a", "Invalid Base64 character: '='"),
]


@pytest.mark.parametrize(("text", "problem"), BAD_BASE64)
def test_malformed_base64_is_refused_in_b_and_bs(url: str, text: str, problem: str) -> None:
    message = f"'{text}' can not be converted to a Blob: {problem}"
    scalar = post(url, {"TableName": "t", "Item": {"b": {"B": text}}})
    assert_error(scalar, 400, SERIALIZATION, message)
    in_set = post(url, {"TableName": "t", "Item": {"b": {"BS": ["YQ==", text]}}})
    assert_error(in_set, 400, SERIALIZATION, message)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Amz-Target": "DynamoDB_20111205.PutItem"},
        {"X-Amz-Target": "DynamoDB_20120810.BogusOperation"},
        {"X-Amz-Target": "DynamoDB_20120810.TransactWriteItems"},
        {"X-Amz-Target": "PutItem"},
    ],
)
def test_unknown_operations_and_targets(url: str, headers: dict[str, str]) -> None:
    answer = raw_request(url, b"{}", operation=None, headers=headers)
    assert_error(
        answer,
        400,
        "com.amazon.coral.service#UnknownOperationException",
        "Unknown operation exception",
    )


def test_a_body_that_is_not_json_typed_is_an_unknown_operation(url: str) -> None:
    answer = post(url, {"TableName": "t"}, headers={"Content-Type": "text/plain"})
    assert answer.code == "UnknownOperationException"


def test_a_request_past_16_mb_is_refused_with_a_content_length(
    url: str, handler: RecordingHandler
) -> None:
    seen = len(handler.requests)
    body = b'{"TableName": "t"' + b" " * SIXTEEN_MB + b"}"
    answer = post(url, body)
    assert_error(
        answer,
        413,
        "com.amazon.coral.service#RequestEntityTooLarge",
        "Request size exceeded 16777216 bytes",
    )
    assert len(handler.requests) == seen


def test_a_request_past_16_mb_is_refused_when_chunked(url: str, handler: RecordingHandler) -> None:
    seen = len(handler.requests)

    def chunks() -> Iterator[bytes]:
        yield b'{"TableName": "t"'
        for _ in range(17):
            yield b" " * (1024 * 1024)
        yield b"}"

    answer = raw_request(url, chunks())
    assert answer.status == 413 and answer.code == "RequestEntityTooLarge"
    assert len(handler.requests) == seen


def test_a_request_of_exactly_16_mb_is_served(url: str) -> None:
    start = b'{"TableName": "t"'
    body = start + b" " * (SIXTEEN_MB - len(start) - 1) + b"}"
    assert len(body) == SIXTEEN_MB
    assert post(url, body, operation="GetItem").status == 200


def test_gzip_bodies_are_inflated(url: str, handler: RecordingHandler) -> None:
    document = {"TableName": "gz", "Item": {"a": {"S": "x" * 1000}}}
    answer = post(
        url, gzip.compress(json.dumps(document).encode()), headers={"Content-Encoding": "gzip"}
    )
    assert answer.status == 200
    assert last_request(handler) == document


def test_a_gzip_bomb_is_refused_at_16_mb(url: str, handler: RecordingHandler) -> None:
    seen = len(handler.requests)
    bomb = gzip.compress(b'{"TableName": "t"' + b" " * (SIXTEEN_MB + 10) + b"}")
    assert len(bomb) < 100_000
    answer = post(url, bomb, headers={"Content-Encoding": "gzip"})
    assert answer.status == 413 and answer.code == "RequestEntityTooLarge"
    assert len(handler.requests) == seen


@pytest.mark.parametrize(
    ("encoding", "body"),
    [("gzip", b"not gzip at all"), ("gzip", gzip.compress(b"{}")[:-6]), ("br", b"{}")],
)
def test_bad_or_unsupported_encodings_are_serialization_errors(
    url: str, encoding: str, body: bytes
) -> None:
    answer = post(url, body, headers={"Content-Encoding": encoding})
    assert_error(answer, 400, SERIALIZATION, None)


def test_an_absurdly_nested_document_is_refused_and_the_server_carries_on(url: str) -> None:
    depth = 200_000
    nested = (
        b'{"TableName": "t", "Item": {"a": '
        + b'{"M": {"a": ' * depth
        + b"{}"
        + b"}}" * depth
        + b"}}"
    )
    assert_error(post(url, nested), 400, SERIALIZATION, "The document is nested too deeply")
    arrays = b'{"TableName": "t", "AttributesToGet": ' + b"[" * depth + b"]" * depth + b"}"
    assert post(url, arrays, operation="GetItem").code == "SerializationException"
    assert post(url, {"TableName": "t"}).status == 200


def test_attribute_values_are_followed_only_to_dynamodb_s_depth(
    url: str, handler: RecordingHandler
) -> None:
    value: dict[str, Any] = {"B": "YQ=="}
    for _ in range(60):
        value = {"M": {"a": value}}
    assert post(url, {"TableName": "t", "Item": {"a": value}}).status == 200
    received = last_request(handler)["Item"]["a"]
    for _ in range(32):
        received = received["M"]["a"]
    assert isinstance(received["M"]["a"]["M"], dict)  # decoded down to level 33 ...
    deepest = received
    for _ in range(28):
        deepest = deepest["M"]["a"]
    assert deepest == {"B": "YQ=="}  # ... and handed on as sent below it


def test_one_process_serves_many_connections_at_once(url: str, handler: RecordingHandler) -> None:
    clients = 48
    handler.gate, handler.gate_size, handler.concurrent_peak = None, clients, 0
    answers: list[int] = []

    def one() -> None:
        answers.append(post(url, {"TableName": "gate"}).status)

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == [200] * clients
    assert handler.concurrent_peak == clients


def test_the_wire_modules_import_neither_ray_nor_rocksdict() -> None:
    for module in ("wire.py", "shapes.py", "sigv4.py", "app.py", "__init__.py"):
        tree = ast.parse((ENDPOINT_PACKAGE / module).read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        assert not imported & {"ray", "rocksdict"}, module


def test_decimal_numbers_in_answers_are_json_numbers() -> None:
    from raydynamo.endpoint.wire import encode_body

    assert encode_body({"ConsumedCapacity": {"CapacityUnits": Decimal("0.5")}}) == (
        b'{"ConsumedCapacity":{"CapacityUnits":0.5}}'
    )


def test_listening_sockets_make_asyncio_turn_off_nagle() -> None:
    import socket

    from raydynamo.endpoint.server import bind_socket

    sock = bind_socket("127.0.0.1", 0, reuse_port=True)
    try:
        assert sock.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY only then
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
    finally:
        sock.close()


def test_tls_serves_https_with_the_configured_certificate(
    tmp_path: Path, handler: RecordingHandler
) -> None:
    import subprocess

    certificate, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
    command += " -addext subjectAltName=IP:127.0.0.1"
    subprocess.run(
        [*command.split(), "-keyout", str(key), "-out", str(certificate)],
        check=True,
        capture_output=True,
    )
    config = with_endpoint(
        config_from_dict({}), tls_certificate_path=str(certificate), tls_key_path=str(key)
    )
    with serving(config, handler) as address:
        assert address.startswith("https://127.0.0.1:")
        client = boto3_client(address, verify=str(certificate))
        got = client.get_item(TableName="tls", Key={"k": {"S": "a"}})
        assert got["Item"]["b"] == {"B": b"\x01\x02"}
        client.close()
    assert handler.requests[-1] == ("GetItem", {"TableName": "tls", "Key": {"k": {"S": "a"}}})


def asgi_post(app: Any, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One request straight through the ASGI interface (no server), body in 1 KB chunks."""
    from raydynamo.endpoint.app import EndpointApp

    assert isinstance(app, EndpointApp)
    sent_headers = {
        "x-amz-target": "DynamoDB_20120810.PutItem",
        "content-type": "application/x-amz-json-1.0",
        **(headers or {}),
    }
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in sent_headers.items()],
    }
    chunks = [body[i : i + 1024] for i in range(0, len(body), 1024)] or [b""]
    messages = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    answers: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        answers.append(message)

    asyncio.run(app(scope, receive, send))
    return answers[0]["status"], json.loads(answers[1]["body"])


def test_the_bytes_all_requests_hold_are_bounded_and_always_given_back(
    handler: RecordingHandler,
) -> None:
    from raydynamo.endpoint.app import EndpointApp

    app = EndpointApp(handler, operations={"PutItem"}, buffered_bytes_max=4096)
    small = json.dumps({"TableName": "t", "Item": {"a": {"S": "x" * 100}}}).encode()
    large = json.dumps({"TableName": "t", "Item": {"a": {"S": "x" * 5000}}}).encode()
    assert asgi_post(app, small)[0] == 200
    status, body = asgi_post(app, large)
    assert status == 503 and body["__type"].endswith("#ServiceUnavailable")
    assert asgi_post(app, gzip.compress(large), {"content-encoding": "gzip"})[0] == 503
    assert asgi_post(app, json.dumps({"TableName": "bug"}).encode())[0] == 500
    assert asgi_post(app, b"{nope")[0] == 400
    assert app.budget.held_bytes == 0


def test_half_a_surrogate_pair_is_refused_and_a_whole_one_served(
    url: str, handler: RecordingHandler
) -> None:
    for body in (
        b'{"TableName": "t", "Item": {"\\ud800": {"S": "x"}}}',
        b'{"TableName": "t", "Item": {"a": {"M": {"k": {"S": "\\udfff"}}}}}',
        b'{"TableName": "t", "ExpressionAttributeNames": {"#a": "\\ud83d"}}',
    ):
        answer = post(url, body)
        assert answer.status == 400 and answer.code == "SerializationException", body
    assert post(url, b'{"TableName": "t", "Item": {"a": {"S": "\\ud83d\\ude00"}}}').status == 200
    assert last_request(handler)["Item"] == {"a": {"S": "\U0001f600"}}


def test_an_sdk_retry_carries_the_same_operation_id_and_another_request_does_not(
    url: str, handler: RecordingHandler
) -> None:
    document = {"TableName": "t", "Item": {"a": {"S": "x"}}}
    invocation = {"amz-sdk-invocation-id": "0b1e4c1a-5d7c-4a52-9d1e-6f0c2a7b8e91"}
    for _ in range(2):
        post(url, document, headers=invocation)
    first, retried = handler.request_ids[-2:]
    assert first is not None and first == retried
    post(url, {**document, "TableName": "u"}, headers=invocation)
    assert handler.request_ids[-1] not in (None, first)
    post(url, document)
    assert handler.request_ids[-1] is None
    boto3_client(url).put_item(TableName="t", Item={"a": {"S": "x"}})
    assert handler.request_ids[-1] is not None  # botocore sends an invocation id
