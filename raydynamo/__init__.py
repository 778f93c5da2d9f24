"""raydynamo: a DynamoDB-like database on Ray.

``raydynamo.connect()`` returns a client with boto3's DynamoDB methods; see the README.
"""

from raydynamo.driver.connect import ServiceNotRunning, connect, connect_async

__all__ = ["ServiceNotRunning", "connect", "connect_async"]
