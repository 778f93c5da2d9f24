"""Durable consensus state of one replica: records into write batches, and back at recovery.

Every stored value is sealed with a CRC32C (``consensus.codec``); a bad checksum on recovery raises
``ChecksumMismatch`` instead of handing the core a value it never wrote.
Pure: only the engine interface, no rocksdict, no ray.
"""

from __future__ import annotations

from raydynamo.consensus.codec import (
    decode_ballot,
    decode_configs,
    decode_entry,
    decode_int,
    encode_ballot,
    encode_configs,
    encode_entry,
    encode_int,
)
from raydynamo.consensus.types import (
    ZERO_BALLOT,
    ChosenThroughRecord,
    CompactedRecord,
    ConfigRecord,
    DurableState,
    EntryRecord,
    PromisedRecord,
    Record,
)
from raydynamo.partition.keys import PartitionKeys, slot_from
from raydynamo.storage.engine import ReadView, WriteBatch, prefix_end


def add_records(keys: PartitionKeys, records: list[Record], batch: WriteBatch) -> None:
    """Append the writes that make ``records`` durable to ``batch``."""
    for record in records:
        if isinstance(record, EntryRecord):
            batch.put(keys.log(record.slot), encode_entry(record.entry))
        elif isinstance(record, PromisedRecord):
            batch.put(keys.promised, encode_ballot(record.ballot))
        elif isinstance(record, ChosenThroughRecord):
            batch.put(keys.chosen, encode_int(record.slot))
        elif isinstance(record, ConfigRecord):
            batch.put(keys.configs, encode_configs(record.configs))
        elif isinstance(record, CompactedRecord):
            batch.put(keys.compacted, encode_int(record.slot))
            batch.delete_range(keys.log(0), keys.log(record.slot + 1))
        else:
            raise TypeError(f"unknown record {record!r}")


def load_durable(view: ReadView, keys: PartitionKeys) -> DurableState:
    """Everything the replica persisted, checksums verified."""
    promised_raw, chosen_raw, compacted_raw, applied_raw, configs_raw = view.multi_get(
        [keys.promised, keys.chosen, keys.compacted, keys.applied, keys.configs]
    )
    state = DurableState(
        promised=decode_ballot(promised_raw) if promised_raw else ZERO_BALLOT,
        chosen_through=decode_int(chosen_raw) if chosen_raw else 0,
        compacted_through=decode_int(compacted_raw) if compacted_raw else 0,
        applied_through=decode_int(applied_raw) if applied_raw else 0,
        configs=decode_configs(configs_raw) if configs_raw else (),
    )
    end = prefix_end(keys.log_prefix)
    for key, value in view.scan(keys.log_prefix, end):
        slot = slot_from(key[len(keys.log_prefix) :])
        if slot > state.compacted_through:
            state.entries[slot] = decode_entry(value)
    return state
