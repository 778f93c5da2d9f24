"""AWS Signature Version 4 verification, by recomputing the signature with botocore's signer.

Role: decide whether a request was signed by a configured access key, answering as DynamoDB
does when it was not. The signature itself is never computed here: botocore's ``SigV4Auth``
(the code that signs every boto3 request) recomputes it over exactly the headers the client
listed in ``SignedHeaders``, and the two are compared in constant time (``hmac.compare_digest``).

Refusals, in the order DynamoDB checks (wording from DynamoDB's answers)::

    no Authorization header                  MissingAuthenticationTokenException
    a malformed one                           IncompleteSignatureException
    a timestamp more than 15 minutes off      InvalidSignatureException (Signature expired / not
                                              yet current)
    Host not signed, wrong service or scope   InvalidSignatureException
    an access key that is not configured      UnrecognizedClientException
    a signature that does not match           InvalidSignatureException
    a session token (none can be checked)     UnrecognizedClientException

The body a client signed is the body as sent (gzip-compressed bytes when compressed). A declared
``X-Amz-Content-SHA256`` must be the hash of that body; ``UNSIGNED-PAYLOAD`` is accepted over TLS
only.

Pure: must not import ray or rocksdict. The clock is injected (tests sign in the past).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from botocore.auth import SIGV4_TIMESTAMP, UNSIGNED_PAYLOAD, SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from raydynamo.endpoint.wire import (
    MISSING_TOKEN,
    SIGNATURE_MISMATCH,
    UNRECOGNIZED_KEY,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "dynamodb"
TERMINATOR = "aws4_request"
CLOCK_SKEW_MAX_S = 15 * 60  # DynamoDB refuses timestamps more than 15 minutes off
AUTH_PARAMETERS = ("Credential", "Signature", "SignedHeaders")


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What verification needs of an HTTP request (header names lower case)."""

    method: str
    scheme: str
    path: str
    query_string: str
    headers: Mapping[str, list[str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return ",".join(values) if values else None


@dataclass(frozen=True, slots=True)
class Authorization:
    """The parsed ``Authorization`` header."""

    credential: str
    signed_headers: tuple[str, ...]
    signature: str


class _Recomputer(SigV4Auth):
    """botocore's signer, told to sign exactly the headers the client listed."""

    def __init__(
        self,
        credentials: Credentials,
        region: str,
        signed: tuple[str, ...],
        received: Mapping[str, list[str]],
    ) -> None:
        super().__init__(credentials, SERVICE, region)
        self._signed = signed
        self._received = received

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        header_map = HTTPHeaders()
        for name in self._signed:
            for value in self._received.get(name, ()):
                header_map[name] = value  # HTTPHeaders appends repeated names
        return header_map


def parse_authorization(header: str) -> tuple[str, dict[str, str]]:
    """``(algorithm, {parameter: value})`` of ``AWS4-HMAC-SHA256 Credential=..., ...``."""
    algorithm, _, rest = header.strip().partition(" ")
    parameters: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            parameters[name.strip()] = value.strip()
    return algorithm, parameters


def _incomplete(message: str, header: str) -> IncompleteSignatureException:
    return IncompleteSignatureException(f"{message}Authorization={header}")


def _stamp(moment: datetime) -> str:
    return moment.strftime(SIGV4_TIMESTAMP)


class SigV4Verifier:
    """Checks requests against ``credentials`` (access key id -> secret access key)."""

    def __init__(
        self,
        credentials: Mapping[str, str],
        *,
        clock: Callable[[], float] = time.time,
        skew_max_s: float = CLOCK_SKEW_MAX_S,
    ) -> None:
        self._secrets = dict(credentials)
        self._clock = clock
        self._skew_max_s = skew_max_s

    def verify(self, request: SignedRequest) -> str:
        """The access key id that signed ``request``; raises DynamoDB's refusal otherwise."""
        header = request.header("authorization")
        if header is None or not header.strip().startswith("AWS4-"):
            raise MissingAuthenticationTokenException(MISSING_TOKEN)
        algorithm, parameters = parse_authorization(header)
        moment, stamp = self._timestamp(request, parameters, header)
        self._check_skew(moment, stamp)
        authorization = self._authorization(algorithm, parameters, header)
        access_key, region = self._check_scope(authorization.credential, stamp)
        secret = self._secrets.get(access_key)
        if secret is None:
            raise UnrecognizedClientException(UNRECOGNIZED_KEY)
        expected = self._recompute(request, authorization, access_key, secret, region, stamp)
        if not hmac.compare_digest(expected.encode(), authorization.signature.encode()):
            raise InvalidSignatureException(SIGNATURE_MISMATCH)
        if request.header("x-amz-security-token") is not None:
            raise UnrecognizedClientException(UNRECOGNIZED_KEY.rstrip("."))
        return access_key

    def _timestamp(
        self, request: SignedRequest, parameters: dict[str, str], header: str
    ) -> tuple[datetime, str]:
        missing = "".join(
            f"Authorization header requires '{name}' parameter. "
            for name in AUTH_PARAMETERS
            if not parameters.get(name) and not (name == "SignedHeaders" and name in parameters)
        )
        amz_date = request.header("x-amz-date")
        http_date = request.header("date")
        if amz_date is None and http_date is None:
            missing += (
                "Authorization header requires existence of either a 'X-Amz-Date' or a "
                "'Date' header. "
            )
        if missing:
            raise _incomplete(missing, header)
        if amz_date is not None:
            try:
                moment = datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
            except ValueError:
                raise IncompleteSignatureException(
                    f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See "
                    "http://en.wikipedia.org/wiki/ISO_8601"
                ) from None
            return moment, amz_date
        try:
            moment = parsedate_to_datetime(http_date or "").astimezone(UTC)
        except (TypeError, ValueError):
            raise IncompleteSignatureException(
                f"Date must be in ISO-8601 'basic format'. Got '{http_date}'. See "
                "http://en.wikipedia.org/wiki/ISO_8601"
            ) from None
        return moment, _stamp(moment)

    def _check_skew(self, moment: datetime, stamp: str) -> None:
        now = datetime.fromtimestamp(self._clock(), UTC)
        window = timedelta(seconds=self._skew_max_s)
        minutes = f"{self._skew_max_s / 60:g} min."
        if moment < now - window:
            raise InvalidSignatureException(
                f"Signature expired: {stamp} is now earlier than {_stamp(now - window)} "
                f"({_stamp(now)} - {minutes})"
            )
        if moment > now + window:
            raise InvalidSignatureException(
                f"Signature not yet current: {stamp} is still later than "
                f"{_stamp(now + window)} ({_stamp(now)} + {minutes})"
            )

    def _authorization(
        self, algorithm: str, parameters: dict[str, str], header: str
    ) -> Authorization:
        signed = tuple(parameters.get("SignedHeaders", "").lower().split(";"))
        if "host" not in signed:
            raise InvalidSignatureException(
                "'Host' must be a 'SignedHeader' in the AWS Authorization."
            )
        if algorithm != ALGORITHM:
            raise IncompleteSignatureException(
                f"Unsupported AWS 'algorithm': '{algorithm}' (only {ALGORITHM} for now). "
            )
        return Authorization(parameters["Credential"], signed, parameters["Signature"])

    def _check_scope(self, credential: str, stamp: str) -> tuple[str, str]:
        parts = credential.rstrip("/").split("/")
        if len(parts) != 5:
            raise IncompleteSignatureException(
                "Credential must have exactly 5 slash-delimited elements, e.g. "
                f"keyid/date/region/service/term, got '{credential}'"
            )
        access_key, date, region, service, terminator = parts
        problems = ""
        if not region:
            problems += f"Credential should be scoped to a valid region, not '{region}'. "
        if service != SERVICE:
            problems += f"Credential should be scoped to correct service: '{SERVICE}'. "
        if terminator != TERMINATOR:
            problems += (
                f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
                f"not '{terminator}'. "
            )
        if date != stamp[:8]:
            problems += (
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                f"from HTTP: '{date}' != '{stamp[:8]}', from '{stamp}'."
            )
        if problems:
            raise InvalidSignatureException(problems.strip())
        return access_key, region

    def _check_declared_hash(self, request: SignedRequest, authorization: Authorization) -> None:
        declared = request.header("x-amz-content-sha256")
        if "x-amz-content-sha256" not in authorization.signed_headers or declared is None:
            return
        if declared == UNSIGNED_PAYLOAD:
            if request.scheme != "https":  # over plain HTTP the body must be covered
                raise InvalidSignatureException(SIGNATURE_MISMATCH)
        elif declared != hashlib.sha256(request.body).hexdigest():
            raise InvalidSignatureException(SIGNATURE_MISMATCH)

    def _recompute(
        self,
        request: SignedRequest,
        authorization: Authorization,
        access_key: str,
        secret: str,
        region: str,
        stamp: str,
    ) -> str:
        self._check_declared_hash(request, authorization)
        signed_only = {
            name: request.header(name) or ""
            for name in authorization.signed_headers
            if name in request.headers
        }
        url = f"{request.scheme}://{request.header('host') or ''}{request.path}"
        if request.query_string:
            url += f"?{request.query_string}"
        aws_request = AWSRequest(
            method=request.method, url=url, headers=signed_only, data=request.body
        )
        aws_request.context["timestamp"] = stamp
        signer = _Recomputer(
            Credentials(access_key, secret), region, authorization.signed_headers, request.headers
        )
        canonical = signer.canonical_request(aws_request)
        return str(signer.signature(signer.string_to_sign(aws_request, canonical), aws_request))
