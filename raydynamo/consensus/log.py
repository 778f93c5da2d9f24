"""A replica's in-memory view of its Paxos log: entries by slot and the positions that matter.

Positions, all slot numbers (slots start at 1; 0 means "none"):
  compacted_through <= applied_through <= emitted_through <= chosen_through
- ``chosen_through``: every slot up to it is known chosen here.
- ``emitted_through``: chosen slots handed to the shell for applying (``Ready.to_apply``).
- ``applied_through``: slots the shell confirmed applied to the data (``Replica.on_applied``).
- ``compacted_through``: slots whose entries were dropped; the data holds their effect.

Entries above ``chosen_through`` may be chosen too (``Entry.chosen``) when learned out of order.
This module is pure: no ray, no rocksdict, no clock.
"""

from __future__ import annotations

from collections.abc import Iterator

from raydynamo.consensus.types import ZERO_BALLOT, DurableState, Entry, Value


class PaxosLog:
    def __init__(self, durable: DurableState) -> None:
        self.compacted_through = durable.compacted_through
        self.applied_through = max(durable.applied_through, durable.compacted_through)
        self.chosen_through = max(durable.chosen_through, self.applied_through)
        self.emitted_through = self.applied_through
        self.entries: dict[int, Entry] = {}
        for slot, entry in durable.entries.items():
            if slot <= self.compacted_through:
                continue
            if slot <= self.chosen_through and not entry.chosen:
                entry = Entry(entry.ballot, entry.value, chosen=True)
            self.entries[slot] = entry
        self.max_slot = max(self.entries, default=self.chosen_through)
        self.max_slot = max(self.max_slot, self.chosen_through)
        # A recovered chosen prefix may extend past the persisted marker.
        self.advance_chosen()
        assert self._positions_ordered()

    def _positions_ordered(self) -> bool:
        return (
            self.compacted_through
            <= self.applied_through
            <= self.emitted_through
            <= self.chosen_through
            <= self.max_slot
        )

    def get(self, slot: int) -> Entry | None:
        return self.entries.get(slot)

    def put(self, slot: int, entry: Entry) -> None:
        assert slot > self.compacted_through, "cannot write a compacted slot"
        self.entries[slot] = entry
        if slot > self.max_slot:
            self.max_slot = slot

    def is_chosen(self, slot: int) -> bool:
        if slot <= self.chosen_through:
            return True
        entry = self.entries.get(slot)
        return entry is not None and entry.chosen

    def mark_chosen(self, slot: int, value: Value) -> bool:
        """Record that ``slot`` is chosen with ``value``; True if this is news."""
        if slot <= self.chosen_through:
            return False
        entry = self.entries.get(slot)
        if entry is not None and entry.chosen:
            assert entry.value == value, "two different values chosen for one slot"
            return False
        ballot = entry.ballot if entry is not None else ZERO_BALLOT
        self.put(slot, Entry(ballot, value, chosen=True))
        return True

    def advance_chosen(self) -> bool:
        """Extend ``chosen_through`` over contiguous chosen entries; True if it moved."""
        start = self.chosen_through
        while True:
            entry = self.entries.get(self.chosen_through + 1)
            if entry is None or not entry.chosen:
                break
            self.chosen_through += 1
        return self.chosen_through != start

    def take_to_apply(self) -> list[tuple[int, Value]]:
        """Chosen slots not yet handed to the shell, in slot order."""
        out = [
            (slot, self.entries[slot].value)
            for slot in range(self.emitted_through + 1, self.chosen_through + 1)
        ]
        self.emitted_through = self.chosen_through
        return out

    def entries_from(self, slot: int) -> Iterator[tuple[int, Entry]]:
        """Entries at ``slot`` and above, in slot order."""
        for s in range(max(slot, self.compacted_through + 1), self.max_slot + 1):
            entry = self.entries.get(s)
            if entry is not None:
                yield s, entry

    def compact(self, through: int) -> None:
        """Drop entries up to ``through`` (which must already be applied)."""
        assert through <= self.applied_through, "only applied slots may be compacted"
        for slot in range(self.compacted_through + 1, through + 1):
            self.entries.pop(slot, None)
        self.compacted_through = max(self.compacted_through, through)

    def install_snapshot(self, last_slot: int) -> None:
        """The data now reflects every slot through ``last_slot``: drop those entries."""
        for slot in [s for s in self.entries if s <= last_slot]:
            del self.entries[slot]
        self.compacted_through = last_slot
        self.applied_through = last_slot
        self.emitted_through = last_slot
        self.chosen_through = max(self.chosen_through, last_slot)
        self.max_slot = max(self.max_slot, last_slot)
        self.advance_chosen()
