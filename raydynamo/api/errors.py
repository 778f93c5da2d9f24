"""The one exception tree of raydynamo, shaped like botocore's ``ClientError``.

Every failure a user can see is a ``ClientError`` whose ``response["Error"]`` holds DynamoDB's
error ``Code`` and ``Message``, exactly as boto3 reports it, so code written against boto3
(``except client.exceptions.ConditionalCheckFailedException``, ``err.response["Error"]["Code"]``)
ports unchanged::

    ClientError
    ├── ValidationException                  bad request shape or values (never retried)
    ├── ResourceNotFoundException            no such table or index
    ├── ResourceInUseException               table exists / is being created or deleted
    ├── ConditionalCheckFailedException      a ConditionExpression was false
    ├── ProvisionedThroughputExceededException
    ├── ThrottlingException
    ├── RequestLimitExceeded
    ├── ItemCollectionSizeLimitExceededException
    ├── TransactionCanceledException
    ├── TransactionConflictException
    ├── LimitExceededException
    ├── InternalServerError                  a bug or an unexpected fault (retryable)
    └── ServiceUnavailable                   no leader reachable in time (retryable)

Errors cross Ray actor boundaries as values (``to_wire``/``from_wire``), never as pickled
tracebacks, so a user never sees a Ray stack trace. What a client finally sees passes through
``client_facing``: a server-side error (HTTP 5xx: InternalServerError, ServiceUnavailable) carries
only its code's fixed message there, never the detail it was raised with (which may quote a Ray
exception, a pid, an address, a traceback); the boundary that calls ``client_facing`` logs the
detail. This module is pure: it must not import ray or rocksdict.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ClientError(Exception):
    """Base of every error a client sees; ``response`` mirrors botocore's."""

    code: ClassVar[str] = "ClientError"
    retryable: ClassVar[bool] = False
    http_status: ClassVar[int] = 400

    def __init__(
        self, message: str = "", *, operation_name: str = "", extra: dict[str, Any] | None = None
    ) -> None:
        self.message = message
        self.operation_name = operation_name
        self.response: dict[str, Any] = {
            "Error": {"Code": self.code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": self.http_status, "RetryAttempts": 0},
        }
        if extra:
            self.response.update(extra)
        op = f" when calling the {operation_name} operation" if operation_name else ""
        super().__init__(f"An error occurred ({self.code}){op}: {message}")

    def to_wire(self) -> dict[str, Any]:
        """A plain dict that crosses actor boundaries safely."""
        extra = {k: v for k, v in self.response.items() if k not in ("Error", "ResponseMetadata")}
        return {"code": self.code, "message": self.message, "extra": extra}

    def with_operation(self, operation_name: str) -> ClientError:
        """A copy of this error naming the operation, as botocore's text does."""
        extra = {k: v for k, v in self.response.items() if k not in ("Error", "ResponseMetadata")}
        return type(self)(self.message, operation_name=operation_name, extra=extra or None)


class ValidationException(ClientError):
    code = "ValidationException"


class SerializationException(ClientError):
    code = "SerializationException"


class ResourceNotFoundException(ClientError):
    code = "ResourceNotFoundException"


class ResourceInUseException(ClientError):
    code = "ResourceInUseException"


class ConditionalCheckFailedException(ClientError):
    code = "ConditionalCheckFailedException"


class ProvisionedThroughputExceededException(ClientError):
    code = "ProvisionedThroughputExceededException"
    retryable = True


class ThrottlingException(ClientError):
    code = "ThrottlingException"
    retryable = True


class RequestLimitExceeded(ClientError):
    code = "RequestLimitExceeded"
    retryable = True


class ItemCollectionSizeLimitExceededException(ClientError):
    code = "ItemCollectionSizeLimitExceededException"


class TransactionCanceledException(ClientError):
    code = "TransactionCanceledException"


class TransactionConflictException(ClientError):
    code = "TransactionConflictException"


class LimitExceededException(ClientError):
    code = "LimitExceededException"


class InternalServerError(ClientError):
    code = "InternalServerError"
    retryable = True
    http_status = 500


class ServiceUnavailable(ClientError):
    code = "ServiceUnavailable"
    retryable = True
    http_status = 503


ERROR_CLASSES: dict[str, type[ClientError]] = {
    cls.code: cls
    for cls in (
        ClientError,
        ValidationException,
        SerializationException,
        ResourceNotFoundException,
        ResourceInUseException,
        ConditionalCheckFailedException,
        ProvisionedThroughputExceededException,
        ThrottlingException,
        RequestLimitExceeded,
        ItemCollectionSizeLimitExceededException,
        TransactionCanceledException,
        TransactionConflictException,
        LimitExceededException,
        InternalServerError,
        ServiceUnavailable,
    )
}


# DynamoDB's own text for a 500 ("Internal server error", as SDK users report it); our
# ServiceUnavailable has no DynamoDB counterpart. # wording unverified for ServiceUnavailable
INTERNAL_SERVER_ERROR_MESSAGE = "Internal server error"
SERVICE_UNAVAILABLE_MESSAGE = "Service unavailable: no replica answered in time; retry the request"
_SERVER_ERROR_MESSAGES = {
    InternalServerError.code: INTERNAL_SERVER_ERROR_MESSAGE,
    ServiceUnavailable.code: SERVICE_UNAVAILABLE_MESSAGE,
}


def client_facing(err: BaseException) -> ClientError:
    """``err`` as a client may see it.

    A ``ClientError`` below 500 is returned unchanged (its message is DynamoDB's wording about
    the request). A server-side one keeps its code, operation and extras but gets its code's
    fixed message; anything that is not a ``ClientError`` becomes an ``InternalServerError``.
    The caller logs the original when ``client_facing(err) is not err``.
    """
    if not isinstance(err, ClientError):
        return InternalServerError(INTERNAL_SERVER_ERROR_MESSAGE)
    if err.http_status < 500:
        return err
    code = err.response["Error"]["Code"]
    message = _SERVER_ERROR_MESSAGES.get(code, INTERNAL_SERVER_ERROR_MESSAGE)
    if err.message == message:
        return err
    extra = {k: v for k, v in err.response.items() if k not in ("Error", "ResponseMetadata")}
    plain = type(err)(message, operation_name=err.operation_name, extra=extra or None)
    plain.response["Error"]["Code"] = code
    return plain


def from_wire(wire: dict[str, Any], operation_name: str = "") -> ClientError:
    """Rebuild the exception a ``to_wire`` dict describes (unknown codes become ``ClientError``)."""
    cls = ERROR_CLASSES.get(wire.get("code", ""), ClientError)
    err = cls(wire.get("message", ""), operation_name=operation_name, extra=wire.get("extra"))
    if cls is ClientError:
        err.response["Error"]["Code"] = wire.get("code", "ClientError")
    return err
