"""CreateTable requests: validation in DynamoDB's order and wording, into a ``CreateTableSpec``.

Order of checks (the first failing stage answers, as DynamoDB's does):

0. valid Unicode: a lone surrogate in any string is a ValidationException (``api.text``);
1. shape: the request is a dict of known parameters with members of the right Python types
   (``SerializationException``, or botocore's "Unknown parameter" text);
2. ``TableName`` present ("The parameter 'TableName' is required but was not present in the
   request");
3. member constraints, all reported together ("N validation errors detected: ..."): table name
   pattern and length, null members, KeySchema length 1-2, enums (KeyType, AttributeType,
   BillingMode, StreamViewType, TableClass), attribute names 1-255 bytes, capacity units >= 1;
4. billing mode against ProvisionedThroughput (absent under PAY_PER_REQUEST, required under
   PROVISIONED, the default) and the capacity ceiling;
5. features this service cannot honour (below);
6. key schema against AttributeDefinitions (duplicates, missing definitions, HASH first, RANGE
   second, no definition that is not a key attribute);
7. tags.

What we do with each optional CreateTable feature:

==================================  ========================================================
GlobalSecondaryIndexes              refused: no secondary indexes here (any value, even []).
LocalSecondaryIndexes               refused, likewise.
StreamSpecification                 StreamEnabled false accepted (nothing to record);
                                    StreamEnabled true refused: there are no streams.
SSESpecification                    {} and Enabled false accepted (the service's default
                                    encryption; DynamoDB then shows no SSEDescription either).
                                    Enabled true, SSEType or KMSMasterKeyId refused: we have
                                    no KMS, and claiming KMS encryption would be false.
Tags                                accepted, validated by DynamoDB's tag rules, kept on the
                                    table record (DynamoDB returns them only through
                                    ListTagsOfResource, never in a TableDescription).
TableClass                          accepted and echoed in TableClassSummary (a pricing class;
                                    nothing to honour).
DeletionProtectionEnabled           false accepted; true refused: without UpdateTable the
                                    protection could never be lifted.
OnDemandThroughput, WarmThroughput  refused: no per-table request caps or pre-warming yet.
ResourcePolicy                      refused: there is no IAM here.
GlobalTableSourceArn,               refused: there are no global tables.
GlobalTableSettingsReplicationMode
==================================  ========================================================

Refusals are ``ValidationException("One or more parameter values were invalid: <feature> is not
supported by raydynamo ...")`` (our wording, on purpose). Other wording comes from DynamoDB;
what is not confirmed against the service is marked ``# wording unverified``.

Pure: no ray, no rocksdict.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from raydynamo.api.errors import SerializationException, ValidationException
from raydynamo.api.schema import KeySchema
from raydynamo.api.text import refuse_lone_surrogates
from raydynamo.metadata.constraints import (
    Violations,
    check_known_parameters,
    check_type,
    required_parameter_missing,
)

CREATE_TABLE_PARAMETERS = (
    "AttributeDefinitions", "TableName", "KeySchema", "LocalSecondaryIndexes",
    "GlobalSecondaryIndexes", "BillingMode", "ProvisionedThroughput", "StreamSpecification",
    "SSESpecification", "Tags", "TableClass", "DeletionProtectionEnabled", "WarmThroughput",
    "ResourcePolicy", "OnDemandThroughput", "GlobalTableSourceArn",
    "GlobalTableSettingsReplicationMode",
)  # fmt: skip
BILLING_MODES = ("PROVISIONED", "PAY_PER_REQUEST")
KEY_TYPES = ("HASH", "RANGE")
ATTRIBUTE_TYPES = ("B", "N", "S")
STREAM_VIEW_TYPES = ("OLD_IMAGE", "KEYS_ONLY", "NEW_AND_OLD_IMAGES", "NEW_IMAGE")
TABLE_CLASSES = ("STANDARD", "STANDARD_INFREQUENT_ACCESS")
ATTRIBUTE_NAME_BYTES_MAX = 255
CAPACITY_UNITS_MAX = 1_000_000_000_000  # DynamoDB's "out of bounds" ceiling for one dimension
TAGS_MAX = 50
TAG_KEY_CHARS_MAX = 128
TAG_VALUE_CHARS_MAX = 256
_TAG_PUNCTUATION = frozenset("_.:/=+-@")
_INVALID = "One or more parameter values were invalid: "

_LISTS = (list, tuple)
_UNSUPPORTED = {
    "GlobalSecondaryIndexes": "GlobalSecondaryIndexes are not supported by raydynamo",
    "LocalSecondaryIndexes": "LocalSecondaryIndexes are not supported by raydynamo",
    "OnDemandThroughput": "OnDemandThroughput is not supported by raydynamo",
    "WarmThroughput": "WarmThroughput is not supported by raydynamo",
    "ResourcePolicy": "ResourcePolicy is not supported by raydynamo (there is no IAM here)",
    "GlobalTableSourceArn": "global tables are not supported by raydynamo",
    "GlobalTableSettingsReplicationMode": "global tables are not supported by raydynamo",
}


@dataclass(frozen=True, slots=True)
class CreateTableSpec:
    """A CreateTable request that passed validation: everything a new table is made from."""

    table_name: str
    key: KeySchema
    attribute_definitions: tuple[tuple[str, str], ...]  # (name, type) in the order sent
    billing_mode: str  # "PROVISIONED" | "PAY_PER_REQUEST"
    read_capacity_units: int  # 0 under PAY_PER_REQUEST
    write_capacity_units: int  # 0 under PAY_PER_REQUEST
    table_class: str | None = None  # None: not given (DynamoDB then shows no TableClassSummary)
    tags: tuple[tuple[str, str], ...] = ()


def validate_create_table(request: Mapping[str, Any]) -> CreateTableSpec:
    """Validate a CreateTable request (boto3 keyword arguments as a dict); raise as DynamoDB."""
    refuse_lone_surrogates(request)
    if not isinstance(request, Mapping):
        raise SerializationException("Start of structure or map found where not expected.")
    check_known_parameters(request, CREATE_TABLE_PARAMETERS)
    if request.get("TableName") is None:
        raise required_parameter_missing("TableName")
    violations = Violations()
    _collect_constraints(request, violations)
    violations.raise_if_any()
    read_units, write_units = _billing(request)
    _refuse_unsupported(request)
    key = _key_schema(request["KeySchema"], request["AttributeDefinitions"])
    tags = _tags(request.get("Tags"))
    return CreateTableSpec(
        table_name=request["TableName"],
        key=key,
        attribute_definitions=tuple(
            (d["AttributeName"], d["AttributeType"]) for d in request["AttributeDefinitions"]
        ),
        billing_mode=request.get("BillingMode") or "PROVISIONED",
        read_capacity_units=read_units,
        write_capacity_units=write_units,
        table_class=request.get("TableClass"),
        tags=tags,
    )


# ---------------------------------------------------------------- stage 3: member constraints


def _collect_constraints(request: Mapping[str, Any], violations: Violations) -> None:
    name = request["TableName"]
    check_type(name, "TableName", str)
    violations.table_name(name, "tableName")
    _attribute_definitions(request.get("AttributeDefinitions"), violations)
    _key_schema_members(request.get("KeySchema"), violations)
    billing_mode = request.get("BillingMode")
    if billing_mode is not None:
        check_type(billing_mode, "BillingMode", str)
        violations.one_of(billing_mode, "billingMode", BILLING_MODES)
    throughput = request.get("ProvisionedThroughput")
    if throughput is not None:
        check_throughput_members(throughput, violations)
    _stream_members(request.get("StreamSpecification"), violations)
    _sse_members(request.get("SSESpecification"), violations)
    table_class = request.get("TableClass")
    if table_class is not None:
        check_type(table_class, "TableClass", str)
        violations.one_of(table_class, "tableClass", TABLE_CLASSES)
    protection = request.get("DeletionProtectionEnabled")
    if protection is not None:
        check_type(protection, "DeletionProtectionEnabled", bool)


def _attribute_name(name: object, param: str, path: str, violations: Violations) -> None:
    if not violations.not_null(name, path):
        return
    check_type(name, param, str)
    assert isinstance(name, str)
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        # wording unverified: DynamoDB only ever receives valid UTF-8 JSON
        raise SerializationException(f"Invalid UTF-8 string for parameter {param}") from None
    # wording unverified for multi-byte names: DynamoDB's model counts characters, its docs bytes
    violations.length_between(name, path, 1, ATTRIBUTE_NAME_BYTES_MAX, size)


def _attribute_definitions(definitions: object, violations: Violations) -> None:
    if not violations.not_null(definitions, "attributeDefinitions"):
        return
    check_type(definitions, "AttributeDefinitions", *_LISTS)
    assert isinstance(definitions, _LISTS)
    for index, definition in enumerate(definitions):
        param = f"AttributeDefinitions[{index}]"
        path = f"attributeDefinitions.{index + 1}.member"
        check_type(definition, param, dict)
        kind = definition.get("AttributeType")
        # DynamoDB reports attributeType before attributeName for an empty definition
        if violations.not_null(kind, f"{path}.attributeType"):
            check_type(kind, f"{param}.AttributeType", str)
            violations.one_of(kind, f"{path}.attributeType", ATTRIBUTE_TYPES)
        name = definition.get("AttributeName")
        _attribute_name(name, f"{param}.AttributeName", f"{path}.attributeName", violations)


def _render_key_schema(elements: Sequence[Mapping[str, Any]]) -> str:
    def one(element: Mapping[str, Any]) -> str:
        name = element.get("AttributeName")
        kind = element.get("KeyType")
        return f"KeySchemaElement(attributeName={name}, keyType={kind})"

    return "[" + ", ".join(one(e) for e in elements) + "]"


def _key_schema_members(elements: object, violations: Violations) -> None:
    if not violations.not_null(elements, "keySchema"):
        return
    check_type(elements, "KeySchema", *_LISTS)
    assert isinstance(elements, _LISTS)
    for index, element in enumerate(elements):
        check_type(element, f"KeySchema[{index}]", dict)
    if len(elements) > 2:
        violations.add(
            _render_key_schema(elements),
            "keySchema",
            "Member must have length less than or equal to 2",
        )
    elif not elements:
        violations.add("[]", "keySchema", "Member must have length greater than or equal to 1")
    for index, element in enumerate(elements):
        param = f"KeySchema[{index}]"
        path = f"keySchema.{index + 1}.member"
        name = element.get("AttributeName")
        _attribute_name(name, f"{param}.AttributeName", f"{path}.attributeName", violations)
        kind = element.get("KeyType")
        if violations.not_null(kind, f"{path}.keyType"):
            check_type(kind, f"{param}.KeyType", str)
            violations.one_of(kind, f"{path}.keyType", KEY_TYPES)


def check_throughput_members(throughput: object, violations: Violations) -> None:
    """ProvisionedThroughput's members (CreateTable's and UpdateTable's rules alike)."""
    check_type(throughput, "ProvisionedThroughput", dict)
    assert isinstance(throughput, dict)
    # DynamoDB reports writeCapacityUnits before readCapacityUnits
    for member, path in (
        ("WriteCapacityUnits", "provisionedThroughput.writeCapacityUnits"),
        ("ReadCapacityUnits", "provisionedThroughput.readCapacityUnits"),
    ):
        units = throughput.get(member)
        if violations.not_null(units, path):
            check_type(units, f"ProvisionedThroughput.{member}", int)
            violations.at_least(units, path, 1)


def _stream_members(stream: object, violations: Violations) -> None:
    if stream is None:
        return
    check_type(stream, "StreamSpecification", dict)
    assert isinstance(stream, dict)
    enabled = stream.get("StreamEnabled")
    if violations.not_null(enabled, "streamSpecification.streamEnabled"):
        check_type(enabled, "StreamSpecification.StreamEnabled", bool)
    view_type = stream.get("StreamViewType")
    if view_type is not None:
        check_type(view_type, "StreamSpecification.StreamViewType", str)
        violations.one_of(view_type, "streamSpecification.streamViewType", STREAM_VIEW_TYPES)


def _sse_members(sse: object, violations: Violations) -> None:
    if sse is None:
        return
    check_type(sse, "SSESpecification", dict)
    assert isinstance(sse, dict)
    if sse.get("Enabled") is not None:
        check_type(sse["Enabled"], "SSESpecification.Enabled", bool)
    key_id = sse.get("KMSMasterKeyId")
    if key_id is not None:
        check_type(key_id, "SSESpecification.KMSMasterKeyId", str)
        violations.length_between(key_id, "sSESpecification.kMSMasterKeyId", 1, 2048, len(key_id))


# ---------------------------------------------------------------- stages 4-5: billing, refusals


def _billing(request: Mapping[str, Any]) -> tuple[int, int]:
    """(read units, write units) of the table; 0 and 0 under PAY_PER_REQUEST."""
    mode = request.get("BillingMode") or "PROVISIONED"
    throughput = request.get("ProvisionedThroughput")
    if mode == "PAY_PER_REQUEST":
        if throughput is not None:
            raise ValidationException(
                _INVALID + "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified "
                "when BillingMode is PAY_PER_REQUEST"
            )
        return 0, 0
    if throughput is None:
        raise ValidationException(
            _INVALID + "ReadCapacityUnits and WriteCapacityUnits must both be specified when "
            "BillingMode is PROVISIONED"
        )
    check_capacity_ceiling(throughput)
    return throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]


def check_capacity_ceiling(throughput: Mapping[str, Any]) -> None:
    """Capacity units past DynamoDB's ceiling for one dimension are out of bounds."""
    for member in ("ReadCapacityUnits", "WriteCapacityUnits"):
        units = throughput.get(member)
        if units is not None and units > CAPACITY_UNITS_MAX:
            # wording unverified (DynamoDB Local / dynalite)
            raise ValidationException(f"Given value {units} for {member} is out of bounds")


def _refuse(feature_text: str) -> ValidationException:
    return ValidationException(_INVALID + feature_text)


def _refuse_unsupported(request: Mapping[str, Any]) -> None:
    for parameter, text in _UNSUPPORTED.items():
        if request.get(parameter) is not None:
            raise _refuse(text)
    stream = request.get("StreamSpecification")
    if stream is not None:
        if stream["StreamEnabled"]:
            raise _refuse("DynamoDB Streams are not supported by raydynamo (StreamEnabled true)")
        if stream.get("StreamViewType") is not None:
            raise ValidationException(
                _INVALID + "Table is being created with a stream disabled, UpdateViewType "
                "should not be specified"
            )
    sse = request.get("SSESpecification")
    if sse is not None and (
        sse.get("Enabled")
        or sse.get("SSEType") is not None
        or sse.get("KMSMasterKeyId") is not None
    ):
        raise _refuse(
            "KMS server-side encryption is not supported by raydynamo (SSESpecification "
            "Enabled true, SSEType or KMSMasterKeyId)"
        )
    if request.get("DeletionProtectionEnabled"):
        raise _refuse(
            "DeletionProtectionEnabled true is not supported by raydynamo (no UpdateTable to "
            "lift it)"
        )


# ---------------------------------------------------------------- stage 6: key schema


def _key_schema(
    elements: Sequence[Mapping[str, str]], definitions: Sequence[Mapping[str, str]]
) -> KeySchema:
    defined = [d["AttributeName"] for d in definitions]
    seen: set[str] = set()
    for name in defined:
        if name in seen:
            raise ValidationException(f"Attribute Name is duplicated: {name}")
        seen.add(name)
    keys = [e["AttributeName"] for e in elements]
    if len(keys) > len(defined):
        raise ValidationException("Invalid KeySchema: Some index key attribute have no definition")
    if any(k not in seen for k in keys):
        raise ValidationException(
            _INVALID + "Some index key attributes are not defined in AttributeDefinitions. "
            f"Keys: [{', '.join(keys)}], AttributeDefinitions: [{', '.join(defined)}]"
        )
    if len(keys) == 2 and keys[0] == keys[1]:
        # wording unverified (dynalite)
        raise ValidationException(
            "Both the Hash Key and the Range Key element in the KeySchema have the same name"
        )
    if elements[0]["KeyType"] != "HASH":
        raise ValidationException(
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"
        )
    if len(elements) == 2 and elements[1]["KeyType"] != "RANGE":
        raise ValidationException(
            "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"
        )
    if len(keys) != len(defined):
        raise ValidationException(
            _INVALID + "Number of attributes in KeySchema does not exactly match number of "
            "attributes defined in AttributeDefinitions"
        )
    types = {d["AttributeName"]: d["AttributeType"] for d in definitions}
    sort_key = keys[1] if len(keys) == 2 else None
    return KeySchema(keys[0], types[keys[0]], sort_key, types[sort_key] if sort_key else None)


# ---------------------------------------------------------------- stage 7: tags


def _tag_text_ok(text: str) -> bool:
    """Letters, numbers and spaces of any script, and ``_ . : / = + - @``."""
    return all(c in _TAG_PUNCTUATION or unicodedata.category(c)[0] in "LNZ" for c in text)


def _tag(tag: object, index: int) -> tuple[str, str]:
    check_type(tag, f"Tags[{index}]", dict)
    assert isinstance(tag, dict)
    key, value = tag.get("Key"), tag.get("Value")
    if key is None:
        raise ValidationException("The Tag Key provided is invalid, Key: null")
    check_type(key, f"Tags[{index}].Key", str)
    if value is None:
        raise ValidationException("The Tag Value provided is invalid, Value: null")
    check_type(value, f"Tags[{index}].Value", str)
    if key.startswith("aws:"):
        raise ValidationException(f"Tag Key cannot be prefixed with aws:, Key: {key}")
    if not key or len(key) > TAG_KEY_CHARS_MAX or not _tag_text_ok(key):
        raise ValidationException(f"The Tag Key provided is invalid, Key: {key}")
    if len(value) > TAG_VALUE_CHARS_MAX or not _tag_text_ok(value):
        # wording unverified (the Key form is confirmed; the Value form is assumed to match)
        raise ValidationException(f"The Tag Value provided is invalid, Value: {value}")
    return key, value


def _tags(tags: object) -> tuple[tuple[str, str], ...]:
    if tags is None:
        return ()
    check_type(tags, "Tags", *_LISTS)
    assert isinstance(tags, _LISTS)
    pairs = tuple(_tag(tag, index) for index, tag in enumerate(tags))
    folded = [key.lower() for key, _ in pairs]
    if len(set(folded)) != len(folded):
        # wording unverified
        raise ValidationException(
            "Duplicate tag keys found. Please note that Tag keys are case insensitive."
        )
    if len(pairs) > TAGS_MAX:
        raise ValidationException(
            "Number of Tags exceed the current limit for the provided ResourceArn"
        )
    return pairs
