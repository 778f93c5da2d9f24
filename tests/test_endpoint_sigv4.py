"""SigV4 verification: the verifier alone (clock injected), then boto3 over HTTP to the service.

Requests are signed by botocore's own signer (``SigV4Auth.add_auth``, what boto3 does), then
changed the way a wrong client, an attacker or a slow clock would change them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from raydynamo.api.errors import ClientError
from raydynamo.endpoint.sigv4 import SignedRequest, SigV4Verifier
from tests.endpoint_support import (
    ACCESS_KEY_ID,
    SECRET_ACCESS_KEY,
    boto3_client,
    serving,
    with_endpoint,
)

NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
BODY = b'{"TableName": "Music"}'
HOST = "127.0.0.1:8000"


def signed(
    *,
    secret: str = SECRET_ACCESS_KEY,
    key: str = ACCESS_KEY_ID,
    at: datetime = NOW,
    body: bytes = BODY,
    service: str = "dynamodb",
    token: str | None = None,
    extra_headers: dict[str, str] | None = None,
    scheme: str = "http",
) -> dict[str, list[str]]:
    """The headers botocore's signer puts on a DescribeTable request."""
    request = AWSRequest(
        method="POST",
        url=f"{scheme}://{HOST}/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.DescribeTable",
            **(extra_headers or {}),
        },
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=at.replace(tzinfo=None)):
        SigV4Auth(Credentials(key, secret, token), service, "eu-west-1").add_auth(request)
    headers = {name.lower(): [value] for name, value in request.headers.items()}
    headers["host"] = [HOST]
    return headers


def as_request(
    headers: dict[str, list[str]], body: bytes = BODY, scheme: str = "http"
) -> SignedRequest:
    return SignedRequest("POST", scheme, "/", "", headers, body)


def verifier(clock_at: datetime = NOW) -> SigV4Verifier:
    return SigV4Verifier({ACCESS_KEY_ID: SECRET_ACCESS_KEY}, clock=clock_at.timestamp)


def refusal(request: SignedRequest, at: datetime = NOW) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        verifier(at).verify(request)
    return caught.value.response["Error"]["Code"], caught.value.message


MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)


def test_a_request_signed_by_botocore_is_accepted() -> None:
    assert verifier().verify(as_request(signed())) == ACCESS_KEY_ID


def test_a_signature_up_to_15_minutes_off_either_way_is_accepted() -> None:
    for offset_s in (-899, 899):
        request = as_request(signed(at=NOW + timedelta(seconds=offset_s)))
        assert verifier().verify(request) == ACCESS_KEY_ID


def test_a_wrong_secret_is_an_invalid_signature() -> None:
    assert refusal(as_request(signed(secret="not-the-secret"))) == (
        "InvalidSignatureException",
        MISMATCH,
    )


def test_an_unknown_key_is_an_unrecognized_client() -> None:
    assert refusal(as_request(signed(key="AKIDUNKNOWN"))) == (
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )


def test_an_unsigned_request_is_missing_its_token() -> None:
    headers = {"host": [HOST], "x-amz-target": ["DynamoDB_20120810.DescribeTable"]}
    assert refusal(as_request(headers)) == (
        "MissingAuthenticationTokenException",
        "Request is missing Authentication Token",
    )


def test_a_20_minute_old_signature_has_expired() -> None:
    assert refusal(as_request(signed(at=NOW - timedelta(minutes=20)))) == (
        "InvalidSignatureException",
        "Signature expired: 20261130T114000Z is now earlier than 20261130T114500Z "
        "(20261130T120000Z - 15 min.)",
    )


def test_a_signature_from_20_minutes_ahead_is_not_yet_current() -> None:
    assert refusal(as_request(signed(at=NOW + timedelta(minutes=20)))) == (
        "InvalidSignatureException",
        "Signature not yet current: 20261130T122000Z is still later than 20261130T121500Z "
        "(20261130T120000Z + 15 min.)",
    )


def test_a_changed_body_or_signed_header_breaks_the_signature() -> None:
    assert refusal(as_request(signed(), body=b'{"TableName": "Other"}'))[1] == MISMATCH
    headers = signed()
    headers["x-amz-target"] = ["DynamoDB_20120810.DeleteTable"]
    assert refusal(as_request(headers))[1] == MISMATCH


def test_a_declared_payload_hash_must_be_the_body_s() -> None:
    declared = {"X-Amz-Content-SHA256": hashlib.sha256(BODY).hexdigest()}
    assert verifier().verify(as_request(signed(extra_headers=declared))) == ACCESS_KEY_ID
    lying = signed(extra_headers={"X-Amz-Content-SHA256": hashlib.sha256(b"x").hexdigest()})
    assert refusal(as_request(lying))[1] == MISMATCH


def test_an_unsigned_payload_is_accepted_over_tls_only() -> None:
    unsigned = {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    over_tls = signed(extra_headers=unsigned, scheme="https")
    assert verifier().verify(as_request(over_tls, scheme="https")) == ACCESS_KEY_ID
    plain = signed(extra_headers=unsigned)
    assert refusal(as_request(plain))[1] == MISMATCH


def test_malformed_authorization_headers_are_incomplete_signatures() -> None:
    headers = signed()
    headers["authorization"] = ["AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261130/x/dynamodb"]
    code, message = refusal(as_request(headers))
    assert code == "IncompleteSignatureException"
    assert message.startswith(
        "Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter. "
    )
    del headers["x-amz-date"]
    headers["authorization"] = [signed()["authorization"][0]]
    assert refusal(as_request(headers))[0] == "IncompleteSignatureException"


def test_a_scope_for_another_service_is_an_invalid_signature() -> None:
    assert refusal(as_request(signed(service="s3"))) == (
        "InvalidSignatureException",
        "Credential should be scoped to correct service: 'dynamodb'.",
    )


def test_host_must_be_signed() -> None:
    headers = signed()
    authorization = headers["authorization"][0].replace("SignedHeaders=", "SignedHeaders=x;")
    headers["authorization"] = [authorization.replace(";host;", ";")]
    assert refusal(as_request(headers)) == (
        "InvalidSignatureException",
        "'Host' must be a 'SignedHeader' in the AWS Authorization.",
    )


def test_a_session_token_cannot_be_checked_so_it_is_refused() -> None:
    assert refusal(as_request(signed(token="session-token")))[0] == "UnrecognizedClientException"


# ------------------------------------------------------------------------ over HTTP, live service


@pytest.fixture(scope="module")
def signed_endpoint(service: Any) -> Iterator[str]:
    credentials = [{"access_key_id": ACCESS_KEY_ID, "secret_access_key": SECRET_ACCESS_KEY}]
    config = with_endpoint(service, auth="sigv4", credentials=credentials)
    with serving(config) as url:
        yield url


def error_of(client: Any) -> dict[str, str]:
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.list_tables()
    return dict(caught.value.response["Error"])


@pytest.mark.ray
def test_a_correctly_signed_boto3_client_works(signed_endpoint: str) -> None:
    client = boto3_client(signed_endpoint, region_name="eu-west-1")
    assert "TableNames" in client.list_tables()
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_item(TableName="no-such-table", Key={"k": {"S": "a"}})


@pytest.mark.ray
def test_wrong_secret_unknown_key_unsigned_and_stale_clients_are_refused(
    signed_endpoint: str,
) -> None:
    import botocore

    wrong_secret = boto3_client(signed_endpoint, aws_secret_access_key="wrong")
    assert error_of(wrong_secret) == {"Code": "InvalidSignatureException", "Message": MISMATCH}
    unknown_key = boto3_client(signed_endpoint, aws_access_key_id="AKIDUNKNOWN")
    assert error_of(unknown_key)["Code"] == "UnrecognizedClientException"
    unsigned = boto3_client(signed_endpoint, config={"signature_version": botocore.UNSIGNED})
    assert error_of(unsigned)["Code"] == "MissingAuthenticationTokenException"
    stale = boto3_client(signed_endpoint)
    twenty_minutes_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=20)
    with mock.patch("botocore.auth.get_current_datetime", return_value=twenty_minutes_ago):
        refused = error_of(stale)
    assert refused["Code"] == "InvalidSignatureException"
    assert refused["Message"].startswith("Signature expired: ")
