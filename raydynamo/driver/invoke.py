"""One call through the handler, as botocore makes it: retries, metadata, errors.

Role: the asynchronous core both clients share. ``Invoker.invoke`` sends one request through the
``RequestHandler`` and

- names the operation with one request id (DynamoDB's 52-character shape) kept across every
  attempt: the router derives every partition command's id from it, so a resent operation is
  applied at most once;
- retries throttling errors (ProvisionedThroughputExceededException, ThrottlingException,
  RequestLimitExceeded: refused before running) and the service's own failures
  (InternalServerError, ServiceUnavailable: may have run, harmless under the same request id)
  with capped exponential backoff and full jitter, up to ``attempts_max`` attempts in all, as
  boto3 does for DynamoDB;
- adds ``ResponseMetadata`` (``RequestId``, ``HTTPStatusCode``, ``HTTPHeaders``,
  ``RetryAttempts``) to responses and to errors;
- re-raises the handler's ``ClientError`` naming the operation (botocore's text:
  ``An error occurred (Code) when calling the PutItem operation: message``), and turns anything
  else that escapes the handler (a broken contract) into ``InternalServerError``;
- gives the client only what ``api.errors.client_facing`` lets through: a server-side error
  (InternalServerError, ServiceUnavailable, or a broken contract) carries its code's plain
  message, never the detail (a Ray exception, a pid, an address, a traceback), which is logged
  here with the request id the client sees in ``ResponseMetadata``.

``sleep`` is injectable (tests never really sleep) and may be sync or async.

This module must not import ray.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import logging
import os
import random
from collections.abc import Awaitable, Callable
from typing import Any

from raydynamo.api.errors import ClientError, client_facing
from raydynamo.driver.handler import RequestHandler

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None] | None]

THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
# Retried as boto3 does for DynamoDB: throttles (refused before running) and the service's own
# failures (which may have run: safe here, since every attempt carries the same request id).
RETRIED_CODES = THROTTLING_CODES | {"InternalServerError", "ServiceUnavailable"}
ATTEMPTS_MAX_DEFAULT = 10  # boto3's legacy retry mode gives DynamoDB 10 attempts
BACKOFF_BASE_S = 0.05  # botocore's base delay for DynamoDB
BACKOFF_CAP_S = 20.0  # botocore standard mode's cap
REQUEST_ID_CHARS = 52  # DynamoDB request ids are 52 upper-case letters and digits


def new_request_id() -> str:
    """A request id shaped like DynamoDB's (52 characters of A-Z and 2-7)."""
    return base64.b32encode(os.urandom(35)).decode("ascii")[:REQUEST_ID_CHARS]


def response_metadata(request_id: str, status: int, retry_attempts: int) -> dict[str, Any]:
    """botocore's ``ResponseMetadata`` for a response or an error."""
    return {
        "RequestId": request_id,
        "HTTPStatusCode": status,
        "HTTPHeaders": {
            "server": "raydynamo",
            "content-type": "application/x-amz-json-1.0",
            "x-amzn-requestid": request_id,
        },
        "RetryAttempts": retry_attempts,
    }


async def pause(sleep: Sleep, seconds: float) -> None:
    """Call ``sleep``, awaiting it when it is a coroutine function (as ``asyncio.sleep`` is)."""
    result = sleep(seconds)
    if inspect.isawaitable(result):
        await result


def error_for_user(err: BaseException, operation: str, retry_attempts: int) -> ClientError:
    """``err`` as the user sees it: client-facing (``client_facing``: server-side detail logged,
    not shown), naming ``operation``, with its code and full ``ResponseMetadata``."""
    given = (err.response.get("ResponseMetadata") if isinstance(err, ClientError) else None) or {}
    request_id = given.get("RequestId") or new_request_id()
    public = client_facing(err)
    if public is not err:
        detail = err.message if isinstance(err, ClientError) else f"{type(err).__name__}: {err}"
        log.warning(
            "%s request %s failed on the server side: %s",
            operation,
            request_id,
            detail,
            exc_info=None if isinstance(err, ClientError) else err,
        )
    code = public.response["Error"]["Code"]
    user_err = public if public.operation_name == operation else public.with_operation(operation)
    if user_err.response["Error"]["Code"] != code:  # a code without its own class
        user_err.response["Error"]["Code"] = code
        text = f"An error occurred ({code}) when calling the {operation} operation: "
        user_err.args = (text + user_err.message,)
    status = given.get("HTTPStatusCode", type(public).http_status)
    user_err.response["ResponseMetadata"] = response_metadata(request_id, status, retry_attempts)
    return user_err


class Invoker:
    """Sends requests through a handler; shared by ``Client`` and ``AsyncClient``."""

    def __init__(
        self,
        handler: RequestHandler,
        *,
        attempts_max: int = ATTEMPTS_MAX_DEFAULT,
        sleep: Sleep | None = None,
        backoff_base_s: float = BACKOFF_BASE_S,
        backoff_cap_s: float = BACKOFF_CAP_S,
        rng: random.Random | None = None,
    ) -> None:
        if attempts_max < 1:
            raise ValueError(f"attempts_max must be at least 1, not {attempts_max}")
        self.handler = handler
        self.attempts_max = attempts_max
        self.sleep: Sleep = sleep if sleep is not None else asyncio.sleep
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self._rng = rng if rng is not None else random.Random()

    def backoff_s(self, retry: int) -> float:
        """Full-jitter delay before retry number ``retry`` (1-based)."""
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * 2 ** (retry - 1))
        return self._rng.uniform(0.0, ceiling)

    async def invoke(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        """The response to ``request``, or the user-facing ``ClientError`` it failed with.

        One request id names the operation across every attempt, so the service applies it at
        most once however often it is resent (and a response reports that id)."""
        retries = 0
        request_id = new_request_id()
        while True:
            try:
                response = await self.handler.call(operation, request, request_id=request_id)
            except ClientError as err:
                code = err.response["Error"]["Code"]
                if code in RETRIED_CODES and retries + 1 < self.attempts_max:
                    retries += 1
                    await pause(self.sleep, self.backoff_s(retries))
                    continue
                raise error_for_user(err, operation, retries) from None
            except Exception as err:  # the handler broke its contract: still a ClientError
                raise error_for_user(err, operation, retries) from err
            if not isinstance(response, dict):
                broken = TypeError(f"the handler returned {type(response).__name__}, not a dict")
                raise error_for_user(broken, operation, retries)
            response.setdefault("ResponseMetadata", {}).setdefault("RequestId", request_id)
            return with_metadata(response, retries)


def with_metadata(response: dict[str, Any], retry_attempts: int) -> dict[str, Any]:
    """``response`` with botocore's ``ResponseMetadata`` (keeping a handler-given RequestId)."""
    given = response.get("ResponseMetadata") or {}
    request_id = given.get("RequestId") or new_request_id()
    response["ResponseMetadata"] = response_metadata(request_id, 200, retry_attempts)
    return response
