"""ReturnConsumedCapacity: DynamoDB's capacity-unit arithmetic and the response shapes.

The arithmetic (DynamoDB developer guide, "Capacity unit consumption"; ScyllaDB's alternator
tests measured against DynamoDB agree):

- a write costs 1 WCU per started 1 KB of the *larger* of the item before and after the write
  (PutItem, UpdateItem, DeleteItem; a write to an absent item, or a failed conditional write,
  still costs at least 1 WCU);
- a read costs 1 RCU per started 4 KB, half of that when eventually consistent; a read of an
  absent item costs the minimum (1, or 0.5); Query and Scan add up the sizes of the items they
  read and round once; BatchGetItem rounds every item on its own;
- transactional reads and writes cost twice as much.

Shapes (``ReturnConsumedCapacity``): ``NONE`` (or absent) returns nothing; ``TOTAL`` returns
``{"TableName": t, "CapacityUnits": u}``; ``INDEXES`` adds ``"Table": {"CapacityUnits": u}``
(and an entry per secondary index touched, which raydynamo has none of yet). Batch operations
return a list with one such entry per table.
# wording unverified: whether DynamoDB also adds ReadCapacityUnits/WriteCapacityUnits next to
# CapacityUnits; the shape above is dynalite's capture of DynamoDB's answers.

Stable names (the read side imports them): ``write_units``, ``read_units``,
``CapacityTally``, ``consumed_capacity``, ``consumed_capacity_list``, ``wants_capacity``.
Pure: no I/O; must not import ray or rocksdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096


def _started_units(size_bytes: int, unit_bytes: int) -> int:
    """Units of ``unit_bytes`` needed for ``size_bytes``, at least one."""
    assert size_bytes >= 0
    return max(1, -(-size_bytes // unit_bytes))


def write_units(
    old_size_bytes: int | None, new_size_bytes: int | None = None, *, transactional: bool = False
) -> float:
    """WCUs of one item write: sizes of the item before and after (``None`` when absent)."""
    size = max(old_size_bytes or 0, new_size_bytes or 0)
    units = _started_units(size, WRITE_UNIT_BYTES)
    return float(units * (2 if transactional else 1))


def read_units(size_bytes: int, *, consistent: bool, transactional: bool = False) -> float:
    """RCUs of reading ``size_bytes`` (one item, or the sum of a Query/Scan page's items)."""
    units = float(_started_units(size_bytes, READ_UNIT_BYTES))
    if transactional:
        return units * 2
    return units if consistent else units / 2


def wants_capacity(mode: str | None) -> bool:
    """True when ``ReturnConsumedCapacity`` asks for a ``ConsumedCapacity`` in the response."""
    return mode in ("TOTAL", "INDEXES")


def consumed_capacity(mode: str | None, table_name: str, units: float) -> dict[str, object] | None:
    """The ``ConsumedCapacity`` entry of one table, or None when ``mode`` asks for none."""
    if not wants_capacity(mode):
        return None
    entry: dict[str, object] = {"TableName": table_name, "CapacityUnits": float(units)}
    if mode == "INDEXES":
        entry["Table"] = {"CapacityUnits": float(units)}
    return entry


@dataclass
class CapacityTally:
    """Units consumed per table, in the order tables were first charged (for batch operations)."""

    units_by_table: dict[str, float] = field(default_factory=dict)

    def charge(self, table_name: str, units: float) -> None:
        self.units_by_table[table_name] = self.units_by_table.get(table_name, 0.0) + units

    def touch(self, table_name: str) -> None:
        """Make ``table_name`` appear in the list even if nothing is charged to it."""
        self.units_by_table.setdefault(table_name, 0.0)


def consumed_capacity_list(
    mode: str | None, tally: CapacityTally
) -> list[dict[str, object]] | None:
    """The ``ConsumedCapacity`` list of a batch operation, or None when ``mode`` asks for none."""
    if not wants_capacity(mode):
        return None
    entries = []
    for table_name, units in tally.units_by_table.items():
        entry = consumed_capacity(mode, table_name, units)
        assert entry is not None
        entries.append(entry)
    return entries


def write_result_units(result: dict[str, Any]) -> float:
    """The write units one partition command's result says it consumed: every op of a batch
    command (``{"ops": [...]}``) or the one op of a single-item write; at least 1 per op, a
    failed condition included. For admission control, which charges after the fact."""
    ops = result.get("ops")
    if isinstance(ops, list):
        return sum(write_units(op.get("old_size"), op.get("new_size")) for op in ops) or 1.0
    return write_units(result.get("old_size"), result.get("new_size"))


def read_result_units(result: dict[str, Any], *, consistent: bool) -> float:
    """The read units a partition read's result says it consumed: a Query/Scan page rounds its
    bytes once, a get rounds each item (an absent one costs the minimum)."""
    if "read_bytes" in result:
        return read_units(int(result["read_bytes"]), consistent=consistent)
    sizes = result.get("sizes")
    if isinstance(sizes, list) and sizes:
        return sum(read_units(int(size), consistent=consistent) for size in sizes)
    return read_units(0, consistent=consistent)
