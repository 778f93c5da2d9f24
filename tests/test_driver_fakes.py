"""A fake ``RequestHandler`` for the driver tests: records calls, answers from a dict store.

Good enough for the driver's tests, not a model of the server: tables (ACTIVE at once, or
following a scripted list of statuses), items keyed by their primary key, conditions and updates
evaluated by ``raydynamo.api.expressions`` (so every expression the driver builds is proven to
compile), queries by partition key with a sort-key condition, paged scans and queries, batch
writes that can be told to leave items unprocessed, and canned answers or errors queued per
operation (``handler.script("PutItem", error)``).

Named ``test_driver_*`` so it lives among the driver's tests; it defines no tests itself.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from raydynamo.api import errors
from raydynamo.api.comparison import compare_scalars
from raydynamo.api.expressions import (
    KeySchema,
    analyze_key_condition,
    apply_update,
    compile_request,
    evaluate_condition,
)
from raydynamo.api.values import canonicalize, canonicalize_item

Item = dict[str, Any]


def _key_text(value: dict[str, Any]) -> str:
    canonical = canonicalize(value)
    ((tag, payload),) = canonical.items()
    return json.dumps([tag, payload.hex() if isinstance(payload, bytes) else payload])


class FakeTable:
    def __init__(self, request: dict[str, Any]) -> None:
        self.name: str = request["TableName"]
        self.key_schema = request["KeySchema"]
        self.attribute_definitions = request["AttributeDefinitions"]
        self.partition_key = next(
            k["AttributeName"] for k in self.key_schema if k["KeyType"] == "HASH"
        )
        self.sort_key = next(
            (k["AttributeName"] for k in self.key_schema if k["KeyType"] == "RANGE"), None
        )
        self.items: dict[tuple[str, ...], Item] = {}
        self.statuses: list[str] = []

    def key_names(self) -> tuple[str, ...]:
        return (self.partition_key, self.sort_key) if self.sort_key else (self.partition_key,)

    def key_of(self, item: Item) -> tuple[str, ...]:
        missing = [name for name in self.key_names() if name not in item]
        if missing:
            raise errors.ValidationException("The provided key element does not match the schema")
        return tuple(_key_text(item[name]) for name in self.key_names())

    def description(self) -> dict[str, Any]:
        status = self.statuses.pop(0) if self.statuses else "ACTIVE"
        return {
            "TableName": self.name,
            "KeySchema": self.key_schema,
            "AttributeDefinitions": self.attribute_definitions,
            "TableStatus": status,
            "ItemCount": len(self.items),
            "TableArn": f"arn:raydynamo:table/{self.name}",
        }

    def ordered(self) -> list[Item]:
        return [self.items[k] for k in sorted(self.items)]


class FakeHandler:
    """Records ``(operation, request)`` pairs; answers scripted replies first, then the store."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.tables: dict[str, FakeTable] = {}
        self.scripted: dict[str, list[Any]] = {}
        self.unprocessed: list[int] = []  # per BatchWriteItem call: how many to leave unprocessed
        self.closed = False
        self.request_ids: list[str | None] = []

    def script(self, operation: str, *answers: Any) -> None:
        """Queue canned responses (dicts) or errors (exceptions) for ``operation``."""
        self.scripted.setdefault(operation, []).extend(answers)

    def operations(self) -> list[str]:
        return [operation for operation, _ in self.calls]

    def last(self, operation: str) -> dict[str, Any]:
        return next(r for op, r in reversed(self.calls) if op == operation)

    async def aclose(self) -> None:
        self.closed = True

    async def call(
        self, operation: str, request: dict[str, Any], request_id: str | None = None
    ) -> dict[str, Any]:
        self.calls.append((operation, copy.deepcopy(request)))
        self.request_ids.append(request_id)
        queue = self.scripted.get(operation)
        if queue:
            answer = queue.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return copy.deepcopy(answer)
        handler = getattr(self, f"_{operation}", None)
        if handler is None:
            raise errors.ValidationException(f"Unsupported operation {operation}")
        return copy.deepcopy(handler(request))

    def _table(self, name: str) -> FakeTable:
        if name not in self.tables:
            raise errors.ResourceNotFoundException(
                f"Requested resource not found: Table: {name} not found"
            )
        return self.tables[name]

    # ------------------------------------------------------------------ tables

    def _CreateTable(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["TableName"]
        if name in self.tables:
            raise errors.ResourceInUseException(f"Table already exists: {name}")
        self.tables[name] = FakeTable(request)
        return {"TableDescription": {**self.tables[name].description(), "TableStatus": "CREATING"}}

    def _DescribeTable(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"Table": self._table(request["TableName"]).description()}

    def _DeleteTable(self, request: dict[str, Any]) -> dict[str, Any]:
        table = self._table(request["TableName"])
        del self.tables[table.name]
        return {"TableDescription": {**table.description(), "TableStatus": "DELETING"}}

    def _ListTables(self, request: dict[str, Any]) -> dict[str, Any]:
        names = sorted(self.tables)
        start = request.get("ExclusiveStartTableName")
        if start is not None:
            names = [n for n in names if n > start]
        limit = request.get("Limit", 100)
        response: dict[str, Any] = {"TableNames": names[:limit]}
        if len(names) > limit:
            response["LastEvaluatedTableName"] = names[limit - 1]
        return response

    # ------------------------------------------------------------------ items

    def _PutItem(self, request: dict[str, Any]) -> dict[str, Any]:
        table = self._table(request["TableName"])
        compiled = compile_request("PutItem", request)
        key = table.key_of(request["Item"])
        old = table.items.get(key)
        if compiled.condition is not None and not evaluate_condition(
            compiled.condition, old, compiled.names, compiled.values
        ):
            raise errors.ConditionalCheckFailedException("The conditional request failed")
        table.items[key] = canonicalize_item(request["Item"])
        if request.get("ReturnValues") == "ALL_OLD" and old is not None:
            return {"Attributes": old}
        return {}

    def _GetItem(self, request: dict[str, Any]) -> dict[str, Any]:
        table = self._table(request["TableName"])
        item = table.items.get(table.key_of(request["Key"]))
        return {"Item": item} if item is not None else {}

    def _DeleteItem(self, request: dict[str, Any]) -> dict[str, Any]:
        table = self._table(request["TableName"])
        compiled = compile_request("DeleteItem", request)
        key = table.key_of(request["Key"])
        old = table.items.get(key)
        if compiled.condition is not None and not evaluate_condition(
            compiled.condition, old, compiled.names, compiled.values
        ):
            raise errors.ConditionalCheckFailedException("The conditional request failed")
        table.items.pop(key, None)
        if request.get("ReturnValues") == "ALL_OLD" and old is not None:
            return {"Attributes": old}
        return {}

    def _UpdateItem(self, request: dict[str, Any]) -> dict[str, Any]:
        table = self._table(request["TableName"])
        compiled = compile_request("UpdateItem", request)
        key = table.key_of(request["Key"])
        old = table.items.get(key)
        if compiled.condition is not None and not evaluate_condition(
            compiled.condition, old, compiled.names, compiled.values
        ):
            raise errors.ConditionalCheckFailedException("The conditional request failed")
        base = old if old is not None else dict(request["Key"])
        assert compiled.update is not None
        new = apply_update(compiled.update, base, compiled.names, compiled.values).item
        table.items[key] = canonicalize_item(new)
        if request.get("ReturnValues") == "ALL_NEW":
            return {"Attributes": table.items[key]}
        if request.get("ReturnValues") == "ALL_OLD" and old is not None:
            return {"Attributes": old}
        return {}

    def _page(
        self, table: FakeTable, items: list[Item], request: dict[str, Any], compiled: Any
    ) -> dict[str, Any]:
        start = request.get("ExclusiveStartKey")
        if start is not None:
            start_key = table.key_of(start)
            keys = [table.key_of(i) for i in items]
            items = items[keys.index(start_key) + 1 :] if start_key in keys else []
        limit = request.get("Limit")
        page = items[:limit] if limit is not None else items
        scanned = len(page)
        if compiled.filter is not None:
            page = [
                i
                for i in page
                if evaluate_condition(compiled.filter, i, compiled.names, compiled.values)
            ]
        response: dict[str, Any] = {"Items": page, "Count": len(page), "ScannedCount": scanned}
        if limit is not None and len(items) > limit:
            last = items[limit - 1]
            response["LastEvaluatedKey"] = {name: last[name] for name in table.key_names()}
        return response

    def _Query(self, request: dict[str, Any]) -> dict[str, Any]:
        table = self._table(request["TableName"])
        compiled = compile_request("Query", request)
        assert compiled.key_condition is not None
        key = analyze_key_condition(
            compiled.key_condition,
            compiled.names,
            compiled.values,
            KeySchema(table.partition_key, table.sort_key),
        )
        partition = _key_text(key.partition_value)
        items = [i for i in table.ordered() if _key_text(i[table.partition_key]) == partition]
        if key.sort_condition is not None and table.sort_key is not None:
            items = [i for i in items if key.sort_condition.matches(i.get(table.sort_key))]
        if table.sort_key is not None:
            sort_key = table.sort_key
            items.sort(key=_SortKey.of(sort_key))
        if request.get("ScanIndexForward") is False:
            items.reverse()
        return self._page(table, items, request, compiled)

    def _Scan(self, request: dict[str, Any]) -> dict[str, Any]:
        table = self._table(request["TableName"])
        compiled = compile_request("Scan", request)
        return self._page(table, table.ordered(), request, compiled)

    def _BatchWriteItem(self, request: dict[str, Any]) -> dict[str, Any]:
        unprocessed_count = self.unprocessed.pop(0) if self.unprocessed else 0
        unprocessed: dict[str, list[Any]] = {}
        for name, writes in request["RequestItems"].items():
            table = self._table(name)
            done, left = (
                writes[: len(writes) - unprocessed_count],
                writes[len(writes) - unprocessed_count :],
            )
            for write in done:
                if "PutRequest" in write:
                    item = write["PutRequest"]["Item"]
                    table.items[table.key_of(item)] = canonicalize_item(item)
                else:
                    table.items.pop(table.key_of(write["DeleteRequest"]["Key"]), None)
            if left:
                unprocessed[name] = left
        return {"UnprocessedItems": unprocessed}

    def _BatchGetItem(self, request: dict[str, Any]) -> dict[str, Any]:
        responses: dict[str, list[Item]] = {}
        for name, spec in request["RequestItems"].items():
            table = self._table(name)
            found = [table.items.get(table.key_of(k)) for k in spec["Keys"]]
            responses[name] = [i for i in found if i is not None]
        return {"Responses": responses, "UnprocessedKeys": {}}


class _SortKey:
    """Orders items by a sort key attribute with DynamoDB's scalar ordering."""

    def __init__(self, value: dict[str, Any]) -> None:
        self.value = value

    def __lt__(self, other: _SortKey) -> bool:
        return compare_scalars(self.value, other.value) == -1

    @staticmethod
    def of(name: str) -> Any:
        return lambda item: _SortKey(item[name])
