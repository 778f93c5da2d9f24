"""Ray Data over raydynamo tables: ``read_table`` and ``write_table``, as Arrow.

    ds = raydynamo.data.read_table("Music")          # a ray.data.Dataset, one read task per
    raydynamo.data.write_table(ds, "MusicCopy")       # partition or more; puts, batched

Layout::

    arrow.py    the type mapping: items <-> Arrow blocks (pure: pyarrow, no ray)
    source.py   TableDatasource and read_table (parallel-scan segments)
    sink.py     TableDatasink and write_table
    writer.py   BulkWriter: validated puts, one command per partition per 100 items, retries
    session.py  a router of its own on a private loop (the driver side and every task)

Both functions take ``config`` (a ``RaydynamoConfig``; the shipped local one by default) and
``address`` (a Ray cluster where ``raydynamo up`` runs the service; by default the embedded
service, started if need be, as ``raydynamo.connect()`` does). The type mapping is documented in
``raydynamo.data.arrow`` and the README.
"""

from raydynamo.data.arrow import OTHER_ATTRIBUTES_COLUMN, TYPE_METADATA_KEY
from raydynamo.data.sink import TableDatasink, write_table
from raydynamo.data.source import TableDatasource, read_table

__all__ = [
    "OTHER_ATTRIBUTES_COLUMN",
    "TYPE_METADATA_KEY",
    "TableDatasink",
    "TableDatasource",
    "read_table",
    "write_table",
]
