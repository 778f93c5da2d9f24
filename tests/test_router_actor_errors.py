"""The router actor's error wrapping and the driver's router-actor handler, without a cluster.

What a client receives from either never quotes a Ray exception (remote tracebacks, pids, IPs,
reprs): a server-side error carries its code's plain message, and the detail is logged.
The actor class is exercised directly (``__ray_actor_class__``), so no Ray runtime is needed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import ray.exceptions

from raydynamo.actors.router import RouterActor
from raydynamo.api.errors import (
    INTERNAL_SERVER_ERROR_MESSAGE,
    SERVICE_UNAVAILABLE_MESSAGE,
    ConditionalCheckFailedException,
    InternalServerError,
    ServiceUnavailable,
    from_wire,
)
from raydynamo.driver.connect import RouterActorHandler

RAY_DETAIL = "ActorDiedError: pid=81723, ip=10.0.0.7, actor_id=4f1f0b\nTraceback (most recent..."


class _FailingRouter:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def call(
        self, operation: str, request: dict[str, Any], request_id: str | None = None
    ) -> dict[str, Any]:
        raise self.error


def _actor_answer(error: BaseException) -> dict[str, Any]:
    actor_class = RouterActor.__ray_actor_class__  # type: ignore[attr-defined]
    actor = actor_class.__new__(actor_class)
    actor.router = _FailingRouter(error)
    return asyncio.run(actor.call("PutItem", {"TableName": "t"}))


def _assert_no_ray_detail(text: str) -> None:
    for leak in ("pid", "81723", "10.0.0.7", "Traceback", "actor_id", "ActorDiedError"):
        assert leak not in text, text


@pytest.mark.parametrize(
    ("raised", "code", "message"),
    [
        (RuntimeError(RAY_DETAIL), "InternalServerError", INTERNAL_SERVER_ERROR_MESSAGE),
        (InternalServerError(f"internal: {RAY_DETAIL}"), "InternalServerError",
         INTERNAL_SERVER_ERROR_MESSAGE),
        (ServiceUnavailable(f"No replica answered in time ({RAY_DETAIL})"), "ServiceUnavailable",
         SERVICE_UNAVAILABLE_MESSAGE),
    ],
    ids=["unexpected exception", "InternalServerError", "ServiceUnavailable"],
)  # fmt: skip
def test_the_router_actor_answers_server_errors_with_plain_messages(
    raised: BaseException, code: str, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    answer = _actor_answer(raised)
    assert answer["error"]["code"] == code
    assert answer["error"]["message"] == message
    _assert_no_ray_detail(str(answer))
    assert "81723" in caplog.text


def test_the_router_actor_passes_client_errors_through_unchanged() -> None:
    failed = ConditionalCheckFailedException("The conditional request failed", extra={"Item": {}})
    answer = _actor_answer(failed)
    assert from_wire(answer["error"]).response["Error"]["Message"] == failed.message
    assert answer["error"]["extra"] == {"Item": {}}


class _DeadRouterMethod:
    def __init__(self) -> None:
        self.request_ids: list[str | None] = []

    def remote(self, operation: str, request: dict[str, Any], request_id: str | None) -> Any:
        self.request_ids.append(request_id)

        async def fail() -> dict[str, Any]:
            raise ray.exceptions.ActorUnavailableError(
                f"The actor is unavailable: {RAY_DETAIL}", b"\0" * 16
            )

        return fail()


class _DeadRouter:
    def __init__(self) -> None:
        self.call = _DeadRouterMethod()


def test_a_router_actor_that_cannot_be_reached_is_service_unavailable_without_ray_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = RouterActorHandler.__new__(RouterActorHandler)
    routers = [_DeadRouter(), _DeadRouter()]
    handler.routers = routers
    handler.next = 0
    with pytest.raises(ServiceUnavailable) as caught:
        asyncio.run(handler.call("GetItem", {"TableName": "t"}, request_id="op-7"))
    assert caught.value.message == SERVICE_UNAVAILABLE_MESSAGE
    _assert_no_ray_detail(str(caught.value))
    assert "81723" in caplog.text
    # Every router was tried, each with the operation's own request id (applied at most once).
    ids = [rid for router in routers for rid in router.call.request_ids]
    assert len(ids) >= 2 and set(ids) == {"op-7"}
