"""DynamoDB's item operations, as plain async functions the router calls.

Each operation is ``async def op(request: dict, catalog: TableCatalogView,
transport: PartitionTransport) -> dict``: it validates the whole request (DynamoDB's error
codes and messages; nothing is sent when anything is invalid), then plans partition commands or
reads, sends them through ``transport`` and shapes DynamoDB's response dict, or raises the
``ClientError`` subclass DynamoDB would answer with.

Modules: ``shapes.py`` (every request's first check: valid Unicode, then the JSON type of every
member at every level), ``common.py`` (the router Protocols, request checks, keys and routing),
``capacity.py`` (ReturnConsumedCapacity arithmetic), ``writes.py`` (PutItem, UpdateItem,
DeleteItem), ``batch_write.py`` (BatchWriteItem); the read side in ``reads.py``, ``query.py``,
``scan.py`` and ``batch_get.py``. The partition side of writes is ``partition/item_writes.py``.

Must not import ray or rocksdict.
"""
