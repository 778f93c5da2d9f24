"""Waiters: ``client.get_waiter("table_exists").wait(TableName=...)``, as botocore runs them.

Role: poll an operation until an acceptor matches. The two DynamoDB waiters are botocore's::

    table_exists      DescribeTable until Table.TableStatus == "ACTIVE";
                      ResourceNotFoundException means "not yet" (retry)
    table_not_exists  DescribeTable until ResourceNotFoundException

A waiter returns ``None`` on success and raises ``WaiterError`` when attempts run out
("Max attempts exceeded"), when a failure acceptor matches, or when the operation fails with an
error no acceptor expects ("An error occurred (Code): message"). ``WaiterConfig={"Delay": s,
"MaxAttempts": n}`` overrides the defaults; the first poll is immediate and the waiter sleeps
``Delay`` seconds between polls, through the client's injectable ``sleep``.

Deviation from boto3: the default delay is 1 s with 500 attempts (boto3: 20 s and 25), the same
bound on the total wait but tables here become ACTIVE within seconds, so code that waits right
after ``create_table`` does not stall for 20 s.

``AsyncWaiter`` holds the one implementation; ``Waiter`` runs it on the sync client's private
loop. This module must not import ray.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from raydynamo.api.errors import ClientError
from raydynamo.driver.exceptions import ParamValidationError, WaiterError
from raydynamo.driver.invoke import Invoker, pause
from raydynamo.driver.operations import OPERATIONS_BY_METHOD, Operation, prepare_request

if TYPE_CHECKING:
    from raydynamo.driver.loop_thread import LoopThread

WAITER_DELAY_DEFAULT_S = 1.0
WAITER_ATTEMPTS_MAX_DEFAULT = 500


@dataclass(frozen=True)
class Acceptor:
    """One botocore acceptor: a response path equal to ``expected``, or an error code."""

    state: Literal["success", "retry", "failure"]
    matcher: Literal["path", "error"]
    expected: str
    path: tuple[str, ...] = ()

    def matches(self, response: Mapping[str, Any], error: ClientError | None) -> bool:
        if self.matcher == "error":
            return error is not None and error.response["Error"]["Code"] == self.expected
        if error is not None:
            return False
        value: Any = response
        for key in self.path:
            if not isinstance(value, Mapping) or key not in value:
                return False
            value = value[key]
        return value == self.expected


@dataclass(frozen=True)
class WaiterModel:
    name: str
    operation: Operation
    acceptors: tuple[Acceptor, ...]
    delay_s: float = WAITER_DELAY_DEFAULT_S
    attempts_max: int = WAITER_ATTEMPTS_MAX_DEFAULT


WAITERS: dict[str, WaiterModel] = {
    "table_exists": WaiterModel(
        "TableExists",
        OPERATIONS_BY_METHOD["describe_table"],
        (
            Acceptor("success", "path", "ACTIVE", ("Table", "TableStatus")),
            Acceptor("retry", "error", "ResourceNotFoundException"),
        ),
    ),
    "table_not_exists": WaiterModel(
        "TableNotExists",
        OPERATIONS_BY_METHOD["describe_table"],
        (Acceptor("success", "error", "ResourceNotFoundException"),),
    ),
}


def waiter_model(name: str) -> WaiterModel:
    """The model of waiter ``name``, or botocore's ValueError for an unknown name."""
    if name not in WAITERS:
        raise ValueError(f"Waiter does not exist: {name}")
    return WAITERS[name]


def _config(config: Any, model: WaiterModel) -> tuple[float, int]:
    config = config or {}
    unknown = set(config) - {"Delay", "MaxAttempts"}
    if unknown:
        raise ParamValidationError(f"Unknown WaiterConfig keys: {', '.join(sorted(unknown))}")
    delay_s = float(config.get("Delay", model.delay_s))
    attempts_max = int(config.get("MaxAttempts", model.attempts_max))
    if attempts_max < 1:
        raise ParamValidationError("WaiterConfig MaxAttempts must be at least 1")
    return delay_s, attempts_max


class AsyncWaiter:
    """``await waiter.wait(TableName=..., WaiterConfig=...)``."""

    def __init__(self, model: WaiterModel, invoker: Invoker) -> None:
        self.name = model.name
        self._model = model
        self._invoker = invoker

    async def wait(self, **kwargs: Any) -> None:
        """Poll until success; raise ``WaiterError`` otherwise."""
        delay_s, attempts_max = _config(kwargs.pop("WaiterConfig", None), self._model)
        request = prepare_request(self._model.operation, (), kwargs)
        for attempt in range(1, attempts_max + 1):
            response, error = await self._poll(request)
            state = next(
                (a.state for a in self._model.acceptors if a.matches(response, error)), None
            )
            if state == "success":
                return
            if state == "failure":
                reason = "Waiter encountered a terminal failure state"
                raise WaiterError(self.name, reason, response)
            if state is None and error is not None:
                code, message = error.response["Error"]["Code"], error.response["Error"]["Message"]
                raise WaiterError(self.name, f"An error occurred ({code}): {message}", response)
            if attempt < attempts_max:
                await pause(self._invoker.sleep, delay_s)
        raise WaiterError(self.name, "Max attempts exceeded", response)

    async def _poll(self, request: dict[str, Any]) -> tuple[dict[str, Any], ClientError | None]:
        try:
            return await self._invoker.invoke(self._model.operation.name, dict(request)), None
        except ClientError as err:
            return err.response, err


class Waiter:
    """``waiter.wait(TableName=..., WaiterConfig=...)``, blocking the calling thread."""

    def __init__(self, model: WaiterModel, invoker: Invoker, loop_thread: LoopThread) -> None:
        self.name = model.name
        self._waiter = AsyncWaiter(model, invoker)
        self._loop_thread = loop_thread

    def wait(self, **kwargs: Any) -> None:
        """Poll until success; raise ``WaiterError`` otherwise."""
        self._loop_thread.run(self._waiter.wait(**kwargs))
