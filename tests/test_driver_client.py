"""The sync ``Client`` against a fake handler: requests, responses, errors, the loop bridge."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import pickle
import threading
import weakref
from typing import Any

import pytest

from raydynamo.api import errors
from raydynamo.driver import Client, ParamValidationError
from raydynamo.driver.operations import OPERATIONS, PARAMETER_TYPES
from tests.test_driver_fakes import FakeHandler

KEY_SCHEMA = [{"AttributeName": "pk", "KeyType": "HASH"}]
DEFINITIONS = [{"AttributeName": "pk", "AttributeType": "S"}]

# One call per operation, with the operation name it must send.
CALLS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "create_table",
        "CreateTable",
        {
            "TableName": "t",
            "KeySchema": KEY_SCHEMA,
            "AttributeDefinitions": DEFINITIONS,
            "BillingMode": "PAY_PER_REQUEST",
        },
    ),
    ("delete_table", "DeleteTable", {"TableName": "t"}),
    ("describe_table", "DescribeTable", {"TableName": "t"}),
    ("describe_partitions", "DescribePartitions", {"TableName": "t"}),
    ("list_tables", "ListTables", {"Limit": 10, "ExclusiveStartTableName": "a"}),
    ("update_table", "UpdateTable", {"TableName": "t", "BillingMode": "PAY_PER_REQUEST"}),
    ("describe_limits", "DescribeLimits", {}),
    (
        "put_item",
        "PutItem",
        {
            "TableName": "t",
            "Item": {"pk": {"S": "a"}, "n": {"N": "1"}, "b": {"B": b"\x01"}},
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValues": "ALL_OLD",
        },
    ),
    ("get_item", "GetItem", {"TableName": "t", "Key": {"pk": {"S": "a"}}, "ConsistentRead": True}),
    ("delete_item", "DeleteItem", {"TableName": "t", "Key": {"pk": {"S": "a"}}}),
    (
        "update_item",
        "UpdateItem",
        {
            "TableName": "t",
            "Key": {"pk": {"S": "a"}},
            "UpdateExpression": "SET #a = :a REMOVE b",
            "ExpressionAttributeNames": {"#a": "a"},
            "ExpressionAttributeValues": {":a": {"N": "2"}},
        },
    ),
    (
        "query",
        "Query",
        {
            "TableName": "t",
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "a"}},
            "ScanIndexForward": False,
            "Limit": 5,
            "ExclusiveStartKey": {"pk": {"S": "a"}},
        },
    ),
    ("scan", "Scan", {"TableName": "t", "Limit": 3, "Segment": 0, "TotalSegments": 2}),
    (
        "batch_get_item",
        "BatchGetItem",
        {"RequestItems": {"t": {"Keys": [{"pk": {"S": "a"}}], "ConsistentRead": True}}},
    ),
    (
        "batch_write_item",
        "BatchWriteItem",
        {"RequestItems": {"t": [{"PutRequest": {"Item": {"pk": {"S": "a"}}}}]}},
    ),
    (
        "transact_get_items",
        "TransactGetItems",
        {"TransactItems": [{"Get": {"TableName": "t", "Key": {"pk": {"S": "a"}}}}]},
    ),
    (
        "transact_write_items",
        "TransactWriteItems",
        {
            "TransactItems": [{"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}}}}],
            "ClientRequestToken": "tok",
        },
    ),
]


@pytest.fixture
def handler() -> FakeHandler:
    return FakeHandler()


@pytest.fixture
def client(handler: FakeHandler) -> Any:
    sleeps: list[float] = []
    client = Client(handler, sleep=sleeps.append)
    client.sleeps = sleeps  # type: ignore[attr-defined]
    yield client
    client.close()


def test_the_table_of_operations_covers_the_brief() -> None:
    methods = {op.method for op in OPERATIONS}
    assert methods == {method for method, _, _ in CALLS}
    for op in OPERATIONS:
        assert set(op.parameters) <= set(PARAMETER_TYPES), op.name


@pytest.mark.parametrize(("method", "operation", "kwargs"), CALLS, ids=[c[0] for c in CALLS])
def test_each_method_sends_its_request_and_passes_the_response_through(
    client: Client, handler: FakeHandler, method: str, operation: str, kwargs: dict[str, Any]
) -> None:
    canned = {"Answer": {"S": "x"}, "Items": [{"pk": {"S": "a"}}], "Count": 1}
    handler.script(operation, canned)
    response = getattr(client, method)(**kwargs)
    assert handler.calls == [(operation, kwargs)]
    metadata = response.pop("ResponseMetadata")
    assert response == canned
    assert metadata["HTTPStatusCode"] == 200
    assert metadata["RetryAttempts"] == 0
    assert len(metadata["RequestId"]) == 52
    assert metadata["HTTPHeaders"]["x-amzn-requestid"] == metadata["RequestId"]


def test_a_request_id_given_by_the_handler_is_kept(client: Client, handler: FakeHandler) -> None:
    handler.script("ListTables", {"TableNames": [], "ResponseMetadata": {"RequestId": "R1"}})
    assert client.list_tables()["ResponseMetadata"]["RequestId"] == "R1"


def test_positional_arguments_are_refused_like_boto3(client: Client, handler: FakeHandler) -> None:
    with pytest.raises(TypeError, match=r"^put_item\(\) only accepts keyword arguments\.$"):
        client.put_item("t", {"pk": {"S": "a"}})
    assert handler.calls == []


def test_parameters_are_checked_before_sending(client: Client, handler: FakeHandler) -> None:
    with pytest.raises(ParamValidationError) as caught:
        client.put_item(TableName=5, Itme={}, ConditionExpression="x")
    text = str(caught.value)
    assert text.startswith("Parameter validation failed:\n")
    assert 'Missing required parameter in input: "Item"' in text
    assert 'Unknown parameter in input: "Itme", must be one of: TableName, Item,' in text
    assert "Invalid type for parameter TableName, value: 5, type: <class 'int'>" in text
    assert handler.calls == []
    with pytest.raises(ParamValidationError, match="Invalid type for parameter Limit"):
        client.scan(TableName="t", Limit=None)


def test_unknown_operations_do_not_exist(client: Client) -> None:
    with pytest.raises(AttributeError):
        client.restore_table_from_backup  # noqa: B018
    assert not hasattr(client, "execute_statement")


ERROR_CLASSES = [cls for code, cls in errors.ERROR_CLASSES.items() if code != "ClientError"]


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.code)
def test_errors_surface_as_boto3_does(handler: FakeHandler, cls: type[errors.ClientError]) -> None:
    client = Client(handler, attempts_max=1)  # no retries of throttling errors here
    handler.script("GetItem", cls("it went wrong"))
    request = {"TableName": "t", "Key": {"pk": {"S": "a"}}}
    with pytest.raises(getattr(client.exceptions, cls.code)) as caught:
        client.get_item(**request)
    err = caught.value
    assert isinstance(err, client.exceptions.ClientError)
    assert type(err) is cls
    # a server-side error shows its code's plain message; the detail goes to the log
    message = errors.client_facing(cls("it went wrong")).message
    assert (message == "it went wrong") is (cls.http_status < 500)
    assert err.response["Error"] == {"Code": cls.code, "Message": message}
    assert (
        str(err) == f"An error occurred ({cls.code}) when calling the GetItem operation: {message}"
    )
    assert err.operation_name == "GetItem"
    metadata = err.response["ResponseMetadata"]
    assert metadata["HTTPStatusCode"] == cls.http_status
    assert len(metadata["RequestId"]) == 52
    assert client.exceptions.from_code(cls.code) is cls
    client.close()


def test_except_clause_as_in_boto3_code(client: Client, handler: FakeHandler) -> None:
    client.create_table(TableName="t", KeySchema=KEY_SCHEMA, AttributeDefinitions=DEFINITIONS)
    client.put_item(TableName="t", Item={"pk": {"S": "a"}})
    try:
        client.put_item(
            TableName="t", Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)"
        )
    except client.exceptions.ConditionalCheckFailedException as err:
        assert err.response["Error"]["Code"] == "ConditionalCheckFailedException"
        assert err.response["Error"]["Message"] == "The conditional request failed"
    else:
        pytest.fail("the condition should have failed")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_table(TableName="missing")


def test_error_extras_and_unknown_codes_are_kept(client: Client, handler: FakeHandler) -> None:
    reasons = [{"Code": "ConditionalCheckFailed", "Message": "no"}]
    handler.script(
        "TransactWriteItems",
        errors.TransactionCanceledException("cancelled", extra={"CancellationReasons": reasons}),
    )
    with pytest.raises(client.exceptions.TransactionCanceledException) as caught:
        client.transact_write_items(TransactItems=[])
    assert caught.value.response["CancellationReasons"] == reasons
    handler.script("Scan", errors.from_wire({"code": "WeirdException", "message": "odd"}))
    with pytest.raises(client.exceptions.ClientError) as odd:
        client.scan(TableName="t")
    assert odd.value.response["Error"]["Code"] == "WeirdException"
    assert str(odd.value).startswith("An error occurred (WeirdException) when calling the Scan")


def test_a_handler_breaking_its_contract_gives_internal_server_error(
    client: Client, handler: FakeHandler, caplog: pytest.LogCaptureFixture
) -> None:
    handler.script("Scan", KeyError("boom"))
    with pytest.raises(client.exceptions.InternalServerError) as caught:
        client.scan(TableName="t")
    assert isinstance(caught.value.__cause__, KeyError)
    assert caught.value.response["Error"]["Message"] == "Internal server error"
    request_id = caught.value.response["ResponseMetadata"]["RequestId"]
    assert f"Scan request {request_id} failed on the server side: KeyError: 'boom'" in caplog.text
    handler.script("Scan", None)
    with pytest.raises(client.exceptions.InternalServerError, match=r"Internal server error$"):
        client.scan(TableName="t")
    assert "the handler returned NoneType, not a dict" in caplog.text


class RayActorDied(Exception):
    """What a Ray failure looks like from the handler: pids, addresses, a remote traceback."""


RAY_TEXT = (
    "The actor died unexpectedly before finishing this task. class_name: RouterActor "
    "actor_id: 4f1f0b pid: 81723 ip: 10.0.0.7 Traceback (most recent call last): ..."
)


@pytest.mark.parametrize(
    "raised",
    [
        RayActorDied(RAY_TEXT),
        errors.InternalServerError(f"internal error: RayActorError({RAY_TEXT!r})"),
        errors.ServiceUnavailable(f"No replica answered in time (p1: no leader ({RAY_TEXT}))"),
    ],
    ids=["foreign exception", "InternalServerError quoting Ray", "ServiceUnavailable quoting Ray"],
)
def test_no_client_facing_message_quotes_a_ray_exception(
    handler: FakeHandler, raised: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(handler, attempts_max=1)
    handler.script("GetItem", raised)
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.get_item(TableName="t", Key={"pk": {"S": "a"}})
    client.close()
    shown = caught.value.response["Error"]["Message"] + str(caught.value)
    for leak in ("pid", "81723", "10.0.0.7", "Traceback", "Ray", "actor_id"):
        assert leak not in shown, shown
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] >= 500
    assert "81723" in caplog.text  # the detail is kept for the operator


def test_throttling_is_retried_with_backoff(client: Any, handler: FakeHandler) -> None:
    throttled = errors.ProvisionedThroughputExceededException("slow down")
    handler.script("ListTables", throttled, errors.ThrottlingException("slow"), {"TableNames": []})
    response = client.list_tables()
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert handler.operations() == ["ListTables"] * 3
    assert len(client.sleeps) == 2
    assert 0 <= client.sleeps[0] <= 0.05 and 0 <= client.sleeps[1] <= 0.1


def test_throttling_gives_up_after_attempts_max(handler: FakeHandler) -> None:
    sleeps: list[float] = []
    with Client(handler, attempts_max=3, sleep=sleeps.append) as client:
        handler.script("ListTables", *[errors.RequestLimitExceeded("limit")] * 5)
        with pytest.raises(client.exceptions.RequestLimitExceeded) as caught:
            client.list_tables()
    assert len(handler.calls) == 3 and len(sleeps) == 2
    assert caught.value.response["ResponseMetadata"]["RetryAttempts"] == 2


def test_errors_that_may_have_been_applied_are_resent_under_the_same_request_id(
    client: Any, handler: FakeHandler
) -> None:
    """A resend is harmless only because it carries the first attempt's id: the service then
    applies the operation at most once."""
    client.create_table(TableName="t", KeySchema=KEY_SCHEMA, AttributeDefinitions=DEFINITIONS)
    handler.script(
        "PutItem",
        errors.InternalServerError("maybe applied"),
        errors.ServiceUnavailable("maybe applied"),
    )
    response = client.put_item(TableName="t", Item={"pk": {"S": "a"}})
    ids = handler.request_ids[-3:]
    assert len(set(ids)) == 1 and ids[0] is not None
    assert response["ResponseMetadata"]["RequestId"] == ids[0]
    assert response["ResponseMetadata"]["RetryAttempts"] == 2


def test_each_operation_has_its_own_request_id(client: Any, handler: FakeHandler) -> None:
    client.create_table(TableName="t", KeySchema=KEY_SCHEMA, AttributeDefinitions=DEFINITIONS)
    client.put_item(TableName="t", Item={"pk": {"S": "a"}})
    client.put_item(TableName="t", Item={"pk": {"S": "a"}})
    assert handler.request_ids[-1] != handler.request_ids[-2]


class ThreadRecordingHandler(FakeHandler):
    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()
        self.in_flight = 0
        self.in_flight_max = 0

    async def call(
        self, operation: str, request: dict[str, Any], request_id: str | None = None
    ) -> dict[str, Any]:
        self.threads.add(threading.get_ident())
        self.in_flight += 1
        self.in_flight_max = max(self.in_flight_max, self.in_flight)
        await asyncio.sleep(0.001)
        self.in_flight -= 1
        return await super().call(operation, request)


def test_many_threads_share_one_private_loop() -> None:
    handler = ThreadRecordingHandler()
    with Client(handler) as client:
        client.create_table(TableName="t", KeySchema=KEY_SCHEMA, AttributeDefinitions=DEFINITIONS)

        def writer(worker: int) -> None:
            for i in range(20):
                client.put_item(TableName="t", Item={"pk": {"S": f"{worker}-{i}"}})

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(writer, range(8)))
        assert len(handler.tables["t"].items) == 160
    assert len(handler.threads) == 1
    assert threading.get_ident() not in handler.threads
    assert handler.in_flight_max > 1  # calls from different threads overlapped on the loop


def test_calling_from_inside_a_running_event_loop_works(
    client: Client, handler: FakeHandler
) -> None:
    async def inside() -> dict[str, Any]:
        return client.list_tables()

    assert asyncio.run(inside())["TableNames"] == []


def test_calling_from_the_private_loop_thread_is_refused() -> None:
    class Reentrant(FakeHandler):
        client: Client

        async def call(
            self, operation: str, request: dict[str, Any], request_id: str | None = None
        ) -> dict[str, Any]:
            return self.client.list_tables()  # the sync client, from its own loop thread

    handler = Reentrant()
    with Client(handler) as client:
        handler.client = client
        with pytest.raises(client.exceptions.InternalServerError) as caught:
            client.list_tables()
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert "AsyncClient" in str(caught.value.__cause__)


def test_close_stops_the_loop_and_closes_an_owned_handler(handler: FakeHandler) -> None:
    client = Client(handler, owns_handler=True)
    client.list_tables()
    thread = client._loop_thread._thread
    assert thread is not None and thread.is_alive()
    client.close()
    client.close()  # idempotent
    assert not thread.is_alive()
    assert handler.closed
    with pytest.raises(RuntimeError, match="closed"):
        client.list_tables()


def test_close_without_use_still_closes_an_owned_handler(handler: FakeHandler) -> None:
    Client(handler, owns_handler=True).close()
    assert handler.closed
    other = FakeHandler()
    Client(other).close()
    assert not other.closed


def test_close_cancels_calls_in_flight() -> None:
    started = threading.Event()

    class Stuck(FakeHandler):
        async def call(
            self, operation: str, request: dict[str, Any], request_id: str | None = None
        ) -> dict[str, Any]:
            started.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    client = Client(Stuck())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client.list_tables)
        assert started.wait(10)
        client.close()
        with pytest.raises(concurrent.futures.CancelledError):
            pending.result(10)


def test_an_unclosed_client_stops_its_thread_when_collected(handler: FakeHandler) -> None:
    client = Client(handler)
    client.list_tables()
    thread = client._loop_thread._thread
    assert thread is not None
    ref = weakref.ref(client)
    del client
    gc.collect()
    assert ref() is None
    thread.join(10)
    assert not thread.is_alive()


def test_a_client_pickles_with_its_handler_for_ray_tasks(client: Client) -> None:
    client.create_table(TableName="t", KeySchema=KEY_SCHEMA, AttributeDefinitions=DEFINITIONS)
    copy = pickle.loads(pickle.dumps(Client(client.handler)))
    try:
        assert copy.list_tables()["TableNames"] == ["t"]
        assert copy._loop_thread is not client._loop_thread
    finally:
        copy.close()
