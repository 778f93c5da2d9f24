"""Reading items on a replica: the partition side of GetItem, BatchGetItem, Query and Scan.

Role: ``execute_read(view, keys, read_request)`` runs one read request on a replica's data (the
leader's under lease for strongly consistent reads, any replica's otherwise) and returns a plain
dict. The router (``operations``) builds requests with the frozen dataclasses below
(``GetRead``, ``QueryRead``, ``ScanRead``; ``to_wire()`` gives the msgpack-able dict the
transport carries) and reads answers with ``GetResult.from_wire`` / ``PageResult.from_wire``.

Request kinds (``"kind"`` in the wire dict):

- ``get``: a few storage keys, an optional projection; answers every key's item (or None) and its
  full size (what capacity is charged on, whatever the projection).
- ``query``: one item collection (a partition key value), an optional sort key condition turned
  into a range of encoded keys, a direction, an exclusive start key, ``limit`` counted on items
  *read* (before the filter), a byte budget (DynamoDB's 1 MB page, counted on the items read),
  then the filter, the projection, and Select COUNT.
- ``scan``: the partition's data in storage-key order, restricted to a key-hash range (the
  partition's range, narrowed to a parallel-scan segment), with the same limits.

A page stops right after the item that reaches ``limit`` or ``size_max_bytes``; it then carries
``last_key`` (the key of that last item read, as a Key map), which is DynamoDB's
LastEvaluatedKey, and is absent when the range was read to its end.

Filters travel in the one wire form of bound conditions (``api/expressions/wire.py``: attribute
names resolved, values inlined), the form write conditions travel in too, so a replica needs no
placeholder maps and never parses expression text.

Invariants: deterministic (the same view and request give the same answer); reads only; the
answer never depends on anything but the view. A malformed request is a bug of the caller and
comes back as ``{"error": <InternalServerError wire>}``; user input is validated by the router
and never reaches here invalid. Pure: must not import ray or rocksdict.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from raydynamo.api.errors import InternalServerError
from raydynamo.api.expressions.condition import Predicate
from raydynamo.api.expressions.key_condition import SortKeyCondition
from raydynamo.api.expressions.paths import project_paths
from raydynamo.api.expressions.wire import condition_predicate
from raydynamo.api.schema import KeySchema, decode_item, key_from_storage_key
from raydynamo.api.sizes import item_size
from raydynamo.partition.keys import PartitionKeys
from raydynamo.storage.engine import ReadView
from raydynamo.storage.keycodec import (
    decode_key_value_at,
    encode_key_prefix,
    encode_key_value,
    key_hash,
    prefix_end,
)

AttributeValue = Mapping[str, Any]
Item = dict[str, Any]
WirePath = list[str | int]

PAGE_SIZE_MAX_BYTES = 1024 * 1024  # DynamoDB stops a Query/Scan page after 1 MB read
GET_KEYS_MAX = 100  # BatchGetItem's bound; a GetItem sends one key

KIND_GET = "get"
KIND_QUERY = "query"
KIND_SCAN = "scan"


# --- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GetRead:
    """Read the items at ``storage_keys`` (partition-local, as ``schema.storage_key`` makes)."""

    storage_keys: tuple[bytes, ...]
    projection: tuple[tuple[str | int, ...], ...] | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "kind": KIND_GET,
            "keys": list(self.storage_keys),
            "projection": _paths_to_wire(self.projection),
        }


@dataclass(frozen=True, slots=True)
class PageOptions:
    """What Query and Scan pages share: the start, the limits, the filter and the selection."""

    exclusive_start: bytes | None = None  # a partition-local storage key
    limit: int | None = None  # items read, before the filter
    size_max_bytes: int = PAGE_SIZE_MAX_BYTES  # bytes read, before the filter
    filter: list[Any] | None = None  # api.expressions.wire.encode_condition's output
    projection: tuple[tuple[str | int, ...], ...] | None = None
    count_only: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {
            "start": self.exclusive_start,
            "limit": self.limit,
            "size_max": self.size_max_bytes,
            "filter": self.filter,
            "projection": _paths_to_wire(self.projection),
            "count_only": self.count_only,
        }


@dataclass(frozen=True, slots=True)
class QueryRead:
    """One item collection, optionally narrowed by a sort key condition, in either direction."""

    key: KeySchema
    partition_value: AttributeValue
    sort_condition: SortKeyCondition | None
    forward: bool
    options: PageOptions

    def to_wire(self) -> dict[str, Any]:
        sort = None
        if self.sort_condition is not None:
            sort = [self.sort_condition.operator, [dict(v) for v in self.sort_condition.values]]
        return {
            "kind": KIND_QUERY,
            "key": self.key.to_wire(),
            "partition_value": dict(self.partition_value),
            "sort": sort,
            "forward": self.forward,
            **self.options.to_wire(),
        }


@dataclass(frozen=True, slots=True)
class ScanRead:
    """The partition's items whose key hash is in ``[hash_start, hash_end)``, in key order.

    ``hash_end`` may be ``2**64``; on the wire it travels as ``hash_last = hash_end - 1``.
    """

    key: KeySchema
    hash_start: int
    hash_end: int
    options: PageOptions

    def to_wire(self) -> dict[str, Any]:
        return {
            "kind": KIND_SCAN,
            "key": self.key.to_wire(),
            "hash_start": self.hash_start,
            # msgpack's integers stop at 2**64 - 1: the wire carries the last hash, inclusive
            "hash_last": self.hash_end - 1,
            **self.options.to_wire(),
        }


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GetResult:
    """Per requested key: the (projected) item or None, and the full item's size (0 if absent)."""

    items: tuple[Item | None, ...]
    sizes: tuple[int, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"items": list(self.items), "sizes": list(self.sizes)}

    @staticmethod
    def from_wire(value: Mapping[str, Any]) -> GetResult:
        return GetResult(tuple(value["items"]), tuple(int(s) for s in value["sizes"]))


@dataclass(frozen=True, slots=True)
class PageResult:
    """One partition's share of a Query or Scan page."""

    items: tuple[Item, ...]  # empty when count_only
    count: int  # items that passed the filter
    scanned_count: int  # items read
    read_bytes: int  # their sizes, for the 1 MB budget and for capacity
    last_key: Item | None  # set when the page stopped on a limit: DynamoDB's LastEvaluatedKey

    def to_wire(self) -> dict[str, Any]:
        return {
            "items": list(self.items),
            "count": self.count,
            "scanned_count": self.scanned_count,
            "read_bytes": self.read_bytes,
            "last_key": self.last_key,
        }

    @staticmethod
    def from_wire(value: Mapping[str, Any]) -> PageResult:
        return PageResult(
            tuple(value["items"]),
            int(value["count"]),
            int(value["scanned_count"]),
            int(value["read_bytes"]),
            value.get("last_key"),
        )


# --- the executor --------------------------------------------------------------------------------


def execute_read(view: ReadView, keys: PartitionKeys, read_request: Mapping[str, Any]) -> dict:
    """Run one read request (a ``*.to_wire()`` dict) against a replica's data."""
    try:
        kind = read_request["kind"]
        if kind == KIND_GET:
            return _execute_get(view, keys, read_request).to_wire()
        if kind == KIND_QUERY:
            return _execute_query(view, keys, read_request).to_wire()
        if kind == KIND_SCAN:
            return _execute_scan(view, keys, read_request).to_wire()
        raise ValueError(f"unknown read kind {kind!r}")
    except Exception as exc:
        # A malformed request (a router bug) or undecodable stored bytes: answer with an error
        # rather than crash the actor that hosts the replica (the text names no address).
        message = f"Internal error serving a read: {type(exc).__name__}"
        return {"error": InternalServerError(message).to_wire()}


def _execute_get(view: ReadView, keys: PartitionKeys, request: Mapping[str, Any]) -> GetResult:
    storage_keys = [_bytes(k) for k in request["keys"]]
    if len(storage_keys) > GET_KEYS_MAX:
        raise ValueError(f"{len(storage_keys)} keys in one get, more than {GET_KEYS_MAX}")
    projection = _paths_from_wire(request.get("projection"))
    items: list[Item | None] = []
    sizes: list[int] = []
    for raw in view.multi_get([keys.data(k) for k in storage_keys]):
        if raw is None:
            items.append(None)
            sizes.append(0)
            continue
        item = decode_item(raw)
        sizes.append(item_size(item))
        items.append(item if projection is None else project_paths(item, projection))
    return GetResult(tuple(items), tuple(sizes))


def query_bounds(
    partition_value: AttributeValue, sort_condition: SortKeyCondition | None
) -> tuple[bytes, bytes | None]:
    """The storage-key range ``[start, end)`` (partition-local) that a key condition selects.

    Storage keys of one collection are ``E(pk) + E(sk)`` with prefix-free encodings ``E``, so
    the keys above ``E(pk) + E(v)`` that still start with it do not exist, and ``prefix_end``
    of an encoded value is its immediate upper bound.
    """
    collection = encode_key_value(partition_value)
    collection_end = prefix_end(collection)
    if sort_condition is None:
        return collection, collection_end
    operator, values = sort_condition.operator, sort_condition.values
    if operator == "BEGINS_WITH":
        prefix = collection + encode_key_prefix(values[0])
        return prefix, prefix_end(prefix)
    low = collection + encode_key_value(values[0])
    if operator == "EQ":
        return low, prefix_end(low)
    if operator == "LT":
        return collection, low
    if operator == "LE":
        return collection, prefix_end(low)
    if operator == "GT":
        above = prefix_end(low)
        assert above is not None, "an encoded key value never ends in 0xff"
        return above, collection_end
    if operator == "GE":
        return low, collection_end
    if operator == "BETWEEN":
        return low, prefix_end(collection + encode_key_value(values[1]))
    raise ValueError(f"unknown sort key operator {operator!r}")


def _execute_query(view: ReadView, keys: PartitionKeys, request: Mapping[str, Any]) -> PageResult:
    key = KeySchema.from_wire(request["key"])
    sort = request.get("sort")
    condition = SortKeyCondition(sort[0], tuple(sort[1])) if sort is not None else None
    start, end = query_bounds(request["partition_value"], condition)
    forward = bool(request["forward"])
    exclusive = request.get("start")
    if exclusive is not None:
        exclusive = _bytes(exclusive)
        if forward:
            start = max(start, exclusive + b"\x00")  # the smallest key above it
        else:
            end = exclusive if end is None else min(end, exclusive)
    prefix = keys.data_prefix
    full_end = prefix + end if end is not None else prefix_end(prefix)
    if full_end is not None and prefix + start >= full_end:
        pairs: Iterator[tuple[bytes, bytes]] = iter(())
    else:
        pairs = view.scan(prefix + start, full_end, reverse=not forward)
    return _read_page(pairs, len(prefix), key, request, hash_range=None)


def _execute_scan(view: ReadView, keys: PartitionKeys, request: Mapping[str, Any]) -> PageResult:
    key = KeySchema.from_wire(request["key"])
    prefix = keys.data_prefix
    start = prefix
    exclusive = request.get("start")
    if exclusive is not None:
        start = prefix + _bytes(exclusive) + b"\x00"
    hash_range = (int(request["hash_start"]), int(request["hash_last"]) + 1)
    pairs = view.scan(start, prefix_end(prefix))
    return _read_page(pairs, len(prefix), key, request, hash_range=hash_range)


def _bytes(value: object) -> bytes:
    if not isinstance(value, bytes | bytearray):
        raise TypeError(f"a storage key is bytes, not {type(value).__name__}")
    return bytes(value)


class _HashRange:
    """Tests storage keys against a key-hash range, hashing each item collection once."""

    def __init__(self, partition_type: str, hash_start: int, hash_end: int) -> None:
        self.partition_type = partition_type
        self.hash_start = hash_start
        self.hash_end = hash_end
        self._last_prefix = b""
        self._last_inside = False

    def contains(self, storage_key: bytes) -> bool:
        if self._last_prefix and storage_key.startswith(self._last_prefix):
            return self._last_inside
        value, end = decode_key_value_at(storage_key, 0, self.partition_type)
        self._last_prefix = storage_key[:end]
        self._last_inside = self.hash_start <= key_hash(value) < self.hash_end
        return self._last_inside


def _read_page(
    pairs: Iterator[tuple[bytes, bytes]],
    prefix_bytes: int,
    key: KeySchema,
    request: Mapping[str, Any],
    *,
    hash_range: tuple[int, int] | None,
) -> PageResult:
    """Read items until the range ends or ``limit`` / ``size_max`` is reached; filter, project."""
    limit = request.get("limit")
    size_max = int(request["size_max"])
    if (limit is not None and int(limit) < 1) or size_max < 1:
        raise ValueError(f"a page needs limit >= 1 and size_max >= 1: {limit}, {size_max}")
    predicate = _predicate(request.get("filter"))
    projection = _paths_from_wire(request.get("projection"))
    count_only = bool(request.get("count_only"))
    inside = _HashRange(key.partition_type, *hash_range) if hash_range is not None else None
    items: list[Item] = []
    count = scanned = read_bytes = 0
    last_key: Item | None = None
    for full_key, raw in pairs:
        storage_key = full_key[prefix_bytes:]
        if inside is not None and not inside.contains(storage_key):
            continue
        item = decode_item(raw)
        scanned += 1
        read_bytes += item_size(item)
        if predicate is None or predicate(item):
            count += 1
            if not count_only:
                items.append(item if projection is None else project_paths(item, projection))
        if (limit is not None and scanned >= limit) or read_bytes >= size_max:
            last_key = key_from_storage_key(key, storage_key)
            break
    return PageResult(tuple(items), count, scanned, read_bytes, last_key)


def _predicate(wire: list[Any] | None) -> Predicate | None:
    return None if wire is None else condition_predicate(wire)


# --- paths and conditions on the wire ------------------------------------------------------------


def _paths_to_wire(paths: Sequence[Sequence[str | int]] | None) -> list[WirePath] | None:
    return None if paths is None else [list(path) for path in paths]


def _paths_from_wire(paths: Sequence[Sequence[Any]] | None) -> list[tuple[str | int, ...]] | None:
    if paths is None:
        return None
    out = []
    for path in paths:
        if not path or not isinstance(path[0], str):
            raise ValueError(f"a path starts with an attribute name: {path!r}")
        out.append(tuple(path))
    return out


__all__ = [
    "GET_KEYS_MAX",
    "KIND_GET",
    "KIND_QUERY",
    "KIND_SCAN",
    "PAGE_SIZE_MAX_BYTES",
    "GetRead",
    "GetResult",
    "PageOptions",
    "PageResult",
    "QueryRead",
    "ScanRead",
    "execute_read",
    "query_bounds",
]
