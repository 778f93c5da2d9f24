"""The Python driver: a boto3-shaped DynamoDB client over whatever ``RequestHandler`` it is given.

Layout (the client surface never imports ray; the transport that implements ``RequestHandler``
and ``connect()`` are the only driver parts that may)::

    handler.py       RequestHandler: the one boundary to the system below
    operations.py    the table of operations both clients are generated from; parameter checks
    invoke.py        one call: throttling retries, ResponseMetadata, errors named by operation
    client.py        Client: sync, runs the async core on a private loop thread (loop_thread.py)
    aio.py           AsyncClient: the same methods as coroutines
    waiters.py       table_exists / table_not_exists
    paginators.py    scan / query / list_tables
    resource.py      Table / AsyncTable: Python values in and out (transform.py)
    conditions.py    Key / Attr condition builders
    batch_writer.py  table.batch_writer()
    exceptions.py    client.exceptions, ParamValidationError, WaiterError, PaginationError
"""

from raydynamo.driver.aio import AsyncClient
from raydynamo.driver.client import Client
from raydynamo.driver.conditions import Attr, Key
from raydynamo.driver.exceptions import PaginationError, ParamValidationError, WaiterError
from raydynamo.driver.handler import RequestHandler
from raydynamo.driver.resource import AsyncTable, Table

__all__ = [
    "AsyncClient",
    "AsyncTable",
    "Attr",
    "Client",
    "Key",
    "PaginationError",
    "ParamValidationError",
    "RequestHandler",
    "Table",
    "WaiterError",
]
