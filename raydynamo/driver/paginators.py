"""Paginators: ``client.get_paginator("scan").paginate(TableName=...)``, as botocore's.

Role: follow an operation's continuation token page by page::

    scan, query   ExclusiveStartKey      <- LastEvaluatedKey        Items, Count, ScannedCount
    list_tables   ExclusiveStartTableName <- LastEvaluatedTableName  TableNames

Iterating yields each response (a page, ``ResponseMetadata`` included). ``PaginationConfig``
takes botocore's keys: ``PageSize`` (sent as ``Limit``), ``MaxItems`` (stop after that many
items, truncating the last page) and ``StartingToken`` (resume where a previous iteration
stopped; its ``resume_token``, also ``NextToken`` in ``build_full_result()``). A token is opaque:
base64 of JSON holding the continuation value and how many items of that page were already
returned, so a page cut by ``MaxItems`` resumes at the next item (botocore's scheme).

``build_full_result()`` concatenates list results, sums counts, keeps the first
``ConsumedCapacity``, and adds ``NextToken`` when ``MaxItems`` cut the iteration short.

``PageCursor`` is the pure state both iterators share; ``PageIterator`` calls the sync client,
``AsyncPageIterator`` the async one. This module must not import ray.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from raydynamo.driver.exceptions import PaginationError, ParamValidationError

Page = dict[str, Any]


@dataclass(frozen=True)
class PaginatorModel:
    method: str
    input_token: str
    output_token: str
    limit_key: str
    result_keys: tuple[str, ...]  # the first one is the list MaxItems counts
    non_aggregate_keys: tuple[str, ...] = ()


_ITEMS = ("Items", "Count", "ScannedCount")
PAGINATORS: dict[str, PaginatorModel] = {
    "scan": PaginatorModel(
        "scan", "ExclusiveStartKey", "LastEvaluatedKey", "Limit", _ITEMS, ("ConsumedCapacity",)
    ),
    "query": PaginatorModel(
        "query", "ExclusiveStartKey", "LastEvaluatedKey", "Limit", _ITEMS, ("ConsumedCapacity",)
    ),
    "list_tables": PaginatorModel(
        "list_tables", "ExclusiveStartTableName", "LastEvaluatedTableName", "Limit", ("TableNames",)
    ),
}


def paginator_model(name: str) -> PaginatorModel:
    """The model of paginator ``name``; botocore raises OperationNotPageableError here."""
    if name not in PAGINATORS:
        raise ValueError(f"Operation cannot be paginated: {name}")
    return PAGINATORS[name]


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _from_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {k: _from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_jsonable(v) for v in value]
    return value


def encode_token(continuation: Any, skip: int) -> str:
    text = json.dumps({"continuation": _jsonable(continuation), "skip": skip})
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def decode_token(token: str) -> tuple[Any, int]:
    try:
        data = json.loads(base64.b64decode(token.encode("ascii"), validate=True))
        return _from_jsonable(data["continuation"]), int(data["skip"])
    except (ValueError, KeyError, TypeError) as err:
        raise ParamValidationError(f"Invalid StartingToken: {token!r}") from err


class PageCursor:
    """Which request to send next, and how to cut each page (pure; no I/O)."""

    def __init__(self, model: PaginatorModel, kwargs: dict[str, Any]) -> None:
        config = dict(kwargs.pop("PaginationConfig", None) or {})
        unknown = set(config) - {"MaxItems", "PageSize", "StartingToken"}
        if unknown:
            raise ParamValidationError(f"Unknown PaginationConfig keys: {sorted(unknown)}")
        self._model = model
        self._request = kwargs
        if config.get("PageSize") is not None:
            self._request[model.limit_key] = int(config["PageSize"])
        max_items = config.get("MaxItems")
        self._max_items: int | None = None if max_items is None else int(max_items)
        self._continuation: Any = self._request.pop(model.input_token, None)
        self._skip = 0
        if config.get("StartingToken"):
            self._continuation, self._skip = decode_token(config["StartingToken"])
        self._returned = 0
        self._done = self._max_items is not None and self._max_items <= 0
        self.resume_token: str | None = None

    def next_request(self) -> dict[str, Any] | None:
        """The next page's request, or None when the iteration is over."""
        if self._done:
            return None
        request = dict(self._request)
        if self._continuation is not None:
            request[self._model.input_token] = self._continuation
        return request

    def accept(self, page: Page) -> Page:
        """Record a page's response; return it cut to what the caller should see."""
        primary = self._model.result_keys[0]
        skipped = self._skip
        if skipped:
            self._cut(page, primary, skipped, None)
            self._skip = 0
        items = page.get(primary) or []
        following = page.get(self._model.output_token)
        if following is not None and following == self._continuation:
            raise PaginationError(f"The same next token was received twice: {following!r}")
        if self._max_items is not None and self._returned + len(items) >= self._max_items:
            keep = self._max_items - self._returned
            if keep < len(items):
                self._cut(page, primary, 0, keep)
                self.resume_token = encode_token(self._continuation, skipped + keep)
            elif following is not None:
                self.resume_token = encode_token(following, 0)
            self._done = True
        elif following is None:
            self._done = True
        self._returned += len(page.get(primary) or [])
        self._continuation = following
        return page

    def _cut(self, page: Page, primary: str, start: int, stop: int | None) -> None:
        items = page.get(primary) or []
        page[primary] = items[start:stop]
        if "Count" in page and primary == "Items":
            page["Count"] = len(page[primary])

    def full_result(self, pages: list[Page]) -> dict[str, Any]:
        """botocore's ``build_full_result`` over the pages an iteration produced."""
        result: dict[str, Any] = {}
        for page in pages:
            for key in self._model.result_keys:
                if key not in page:
                    continue
                if key in result:
                    result[key] = result[key] + page[key]
                else:
                    result[key] = list(page[key]) if isinstance(page[key], list) else page[key]
            for key in self._model.non_aggregate_keys:
                if key in page and key not in result:
                    result[key] = page[key]
        if self.resume_token is not None:
            result["NextToken"] = self.resume_token
        return result


class PageIterator:
    """Pages of one paginated call, fetched as the caller iterates (sync).

    Each iteration starts afresh from the ``paginate`` arguments, as botocore's does.
    """

    def __init__(
        self, model: PaginatorModel, fetch: Callable[..., Page], kwargs: dict[str, Any]
    ) -> None:
        self._model = model
        self._kwargs = kwargs
        self._cursor = PageCursor(model, dict(kwargs))  # checks PaginationConfig now
        self._fetch = fetch

    @property
    def resume_token(self) -> str | None:
        return self._cursor.resume_token

    def __iter__(self) -> Iterator[Page]:
        self._cursor = cursor = PageCursor(self._model, dict(self._kwargs))
        while (request := cursor.next_request()) is not None:
            yield cursor.accept(self._fetch(**request))

    def build_full_result(self) -> dict[str, Any]:
        pages = list(self)
        return self._cursor.full_result(pages)


class AsyncPageIterator:
    """Pages of one paginated call, for ``async for`` (aiobotocore's shape)."""

    def __init__(
        self, model: PaginatorModel, fetch: Callable[..., Awaitable[Page]], kwargs: dict[str, Any]
    ) -> None:
        self._model = model
        self._kwargs = kwargs
        self._cursor = PageCursor(model, dict(kwargs))
        self._fetch = fetch

    @property
    def resume_token(self) -> str | None:
        return self._cursor.resume_token

    async def __aiter__(self) -> AsyncIterator[Page]:
        self._cursor = cursor = PageCursor(self._model, dict(self._kwargs))
        while (request := cursor.next_request()) is not None:
            yield cursor.accept(await self._fetch(**request))

    async def build_full_result(self) -> dict[str, Any]:
        pages = [page async for page in self]
        return self._cursor.full_result(pages)


class Paginator:
    """``client.get_paginator(name)``: ``paginate(**kwargs)`` gives a ``PageIterator``."""

    def __init__(self, model: PaginatorModel, fetch: Callable[..., Page]) -> None:
        self._model = model
        self._fetch = fetch

    def paginate(self, **kwargs: Any) -> PageIterator:
        return PageIterator(self._model, self._fetch, kwargs)


class AsyncPaginator:
    """``async_client.get_paginator(name)``: ``paginate(**kwargs)`` for ``async for``."""

    def __init__(self, model: PaginatorModel, fetch: Callable[..., Awaitable[Page]]) -> None:
        self._model = model
        self._fetch = fetch

    def paginate(self, **kwargs: Any) -> AsyncPageIterator:
        return AsyncPageIterator(self._model, self._fetch, kwargs)
