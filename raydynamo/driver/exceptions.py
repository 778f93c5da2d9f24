"""The driver's own exceptions, and the ``client.exceptions`` namespace.

Role: everything the *server* refuses is a ``raydynamo.api.errors.ClientError`` (DynamoDB's codes).
The driver adds the few failures botocore raises on the client side, which are deliberately not
``ClientError``s (as in botocore, so ``except ClientError`` code behaves the same)::

    Exception
    ├── ClientError (raydynamo.api.errors)   the service said no; reachable as client.exceptions.*
    ├── ParamValidationError (ValueError)    bad parameter names/types, caught before sending
    ├── WaiterError                          a waiter gave up or met a failure state
    └── PaginationError                      the service sent the same continuation twice

``ClientExceptions`` mirrors boto3's ``client.exceptions``: one attribute per error class of
``raydynamo.api.errors`` (``client.exceptions.ConditionalCheckFailedException``), plus
``ClientError`` and ``from_code``.

This module must not import ray.
"""

from __future__ import annotations

from typing import Any

from raydynamo.api import errors


class ParamValidationError(ValueError):
    """botocore's client-side parameter check: the request was never sent."""

    def __init__(self, report: str) -> None:
        self.report = report
        super().__init__(f"Parameter validation failed:\n{report}")


class WaiterError(Exception):
    """A waiter ran out of attempts or reached a failure state (botocore's wording)."""

    def __init__(self, name: str, reason: str, last_response: dict[str, Any] | None) -> None:
        self.name = name
        self.reason = reason
        self.last_response = last_response
        super().__init__(f"Waiter {name} failed: {reason}")


class PaginationError(Exception):
    """botocore's guard against a paginator looping on a repeated token."""

    def __init__(self, message: str) -> None:
        super().__init__(f"Error during pagination: {message}")


class ClientExceptions:
    """The ``client.exceptions`` namespace: every DynamoDB error class, by code."""

    ClientError = errors.ClientError

    def __init__(self) -> None:
        self._by_code: dict[str, type[errors.ClientError]] = dict(errors.ERROR_CLASSES)
        for code, cls in self._by_code.items():
            setattr(self, code, cls)

    def from_code(self, code: str) -> type[errors.ClientError]:
        """The class for an error code; ``ClientError`` for a code without its own class."""
        return self._by_code.get(code, errors.ClientError)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._by_code))


CLIENT_EXCEPTIONS = ClientExceptions()
