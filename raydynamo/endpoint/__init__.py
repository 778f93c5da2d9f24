"""The DynamoDB wire endpoint: DynamoDB's JSON 1.0 protocol over HTTP, so boto3, the AWS CLI and
any DynamoDB SDK talk to raydynamo unchanged.

Modules::

    wire     error and response bodies, their headers, the front end's own error classes
    shapes   request bodies checked against botocore's DynamoDB model, base64 decoded
    sigv4    AWS Signature Version 4 verification with botocore's signer
    app      the ASGI application in front of a request handler (the embedded router)
    server   running the application: uvicorn on a bound socket, TLS
    serve    ``raydynamo serve``: local Ray, the service and the endpoint in the foreground
    node     ``raydynamo up``: one endpoint actor per Ray node

``wire``, ``shapes``, ``sigv4`` and ``app`` never import ray or rocksdict; ``server``,
``serve`` and ``node`` are the shells that do (through the router they embed).
"""
