"""Table management: CreateTable/DescribeTable/DeleteTable/ListTables validation (error class and
exact DynamoDB wording per rule), response shapes, records, and the catalog's lifecycle."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raydynamo.api.errors import (
    ClientError,
    SerializationException,
    ValidationException,
)
from raydynamo.api.schema import KeySchema, TableSchema
from raydynamo.metadata.tables import (
    ListTablesRequest,
    TableDescription,
    TableStatus,
    create_table_response,
    describe_table_response,
    list_tables_page,
    validate_create_table,
    validate_delete_table,
    validate_describe_table,
    validate_list_tables,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
PK = {"AttributeName": "pk", "KeyType": "HASH"}
SK = {"AttributeName": "sk", "KeyType": "RANGE"}
PK_S = {"AttributeName": "pk", "AttributeType": "S"}
SK_N = {"AttributeName": "sk", "AttributeType": "N"}
PT_5 = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
BASE: dict[str, Any] = {
    "TableName": "Music",
    "KeySchema": [PK],
    "AttributeDefinitions": [PK_S],
    "ProvisionedThroughput": PT_5,
}
PPR: dict[str, Any] = {
    "TableName": "Music",
    "KeySchema": [PK],
    "AttributeDefinitions": [PK_S],
    "BillingMode": "PAY_PER_REQUEST",
}
MISSING = object()
ONE = "1 validation error detected: "
INVALID = "One or more parameter values were invalid: "


def request(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = dict(base)
    for name, value in changes.items():
        if value is MISSING:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def constraint(value: str, path: str, rule: str) -> str:
    return f"Value {value} at '{path}' failed to satisfy constraint: {rule}"


NOT_NULL = "Member must not be null"
KEY_ENUM = "Member must satisfy enum value set: [HASH, RANGE]"
PATTERN = "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
AT_LEAST_1 = "Member must have value greater than or equal to 1"

# (id, request, error class, exact message)
CREATE_ERRORS: list[tuple[str, dict[str, Any], type[ClientError], str]] = [
    ("no table name", request(BASE, TableName=MISSING), ValidationException,
     "The parameter 'TableName' is required but was not present in the request"),
    ("short name", request(BASE, TableName="ab"), ValidationException,
     ONE + constraint("'ab'", "tableName", "Member must have length greater than or equal to 3")),
    ("long name", request(BASE, TableName="a" * 256), ValidationException,
     ONE + constraint(f"'{'a' * 256}'", "tableName",
                      "Member must have length less than or equal to 255")),
    ("bad characters", request(BASE, TableName="bad table!@#"), ValidationException,
     ONE + constraint("'bad table!@#'", "tableName", PATTERN)),
    ("short and bad", request(BASE, TableName="a;"), ValidationException,
     "2 validation errors detected: " + constraint("'a;'", "tableName", PATTERN) + "; "
     + constraint("'a;'", "tableName", "Member must have length greater than or equal to 3")),
    ("no key schema", request(BASE, KeySchema=MISSING), ValidationException,
     ONE + constraint("null", "keySchema", NOT_NULL)),
    ("no definitions", request(BASE, AttributeDefinitions=MISSING), ValidationException,
     ONE + constraint("null", "attributeDefinitions", NOT_NULL)),
    ("empty key schema", request(BASE, KeySchema=[]), ValidationException,
     ONE + constraint("'[]'", "keySchema", "Member must have length greater than or equal to 1")),
    ("three key elements",
     request(BASE, KeySchema=[PK, SK, {"AttributeName": "x", "KeyType": "RANGE"}]),
     ValidationException,
     ONE + constraint(
         "'[KeySchemaElement(attributeName=pk, keyType=HASH), KeySchemaElement(attributeName=sk, "
         "keyType=RANGE), KeySchemaElement(attributeName=x, keyType=RANGE)]'", "keySchema",
         "Member must have length less than or equal to 2")),
    ("bad key type", request(BASE, KeySchema=[{"AttributeName": "pk", "KeyType": "INVALID"}]),
     ValidationException, ONE + constraint("'INVALID'", "keySchema.1.member.keyType", KEY_ENUM)),
    ("bad attribute type",
     request(BASE, AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "INVALID"}]),
     ValidationException,
     ONE + constraint("'INVALID'", "attributeDefinitions.1.member.attributeType",
                      "Member must satisfy enum value set: [B, N, S]")),
    ("empty definition", request(BASE, AttributeDefinitions=[{}]), ValidationException,
     "2 validation errors detected: "
     + constraint("null", "attributeDefinitions.1.member.attributeType", NOT_NULL) + "; "
     + constraint("null", "attributeDefinitions.1.member.attributeName", NOT_NULL)),
    ("empty key element", request(BASE, KeySchema=[{}]), ValidationException,
     "2 validation errors detected: "
     + constraint("null", "keySchema.1.member.attributeName", NOT_NULL) + "; "
     + constraint("null", "keySchema.1.member.keyType", NOT_NULL)),
    ("empty attribute name",
     request(BASE, KeySchema=[{"AttributeName": "", "KeyType": "HASH"}],
             AttributeDefinitions=[{"AttributeName": "", "AttributeType": "S"}]),
     ValidationException,
     "2 validation errors detected: "
     + constraint("''", "attributeDefinitions.1.member.attributeName",
                  "Member must have length greater than or equal to 1") + "; "
     + constraint("''", "keySchema.1.member.attributeName",
                  "Member must have length greater than or equal to 1")),
    ("attribute name of 256 bytes",
     request(BASE, KeySchema=[{"AttributeName": "é" * 128, "KeyType": "HASH"}],
             AttributeDefinitions=[{"AttributeName": "é" * 128, "AttributeType": "S"}]),
     ValidationException,
     "2 validation errors detected: "
     + constraint(f"'{'é' * 128}'", "attributeDefinitions.1.member.attributeName",
                  "Member must have length less than or equal to 255") + "; "
     + constraint(f"'{'é' * 128}'", "keySchema.1.member.attributeName",
                  "Member must have length less than or equal to 255")),
    ("empty billing mode", request(BASE, BillingMode=""), ValidationException,
     ONE + constraint("''", "billingMode",
                      "Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]")),
    ("throughput under on-demand", request(PPR, ProvisionedThroughput=PT_5), ValidationException,
     INVALID + "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when "
     "BillingMode is PAY_PER_REQUEST"),
    ("zero throughput under on-demand",
     request(PPR, ProvisionedThroughput={"ReadCapacityUnits": 0, "WriteCapacityUnits": 0}),
     ValidationException,
     "2 validation errors detected: "
     + constraint("'0'", "provisionedThroughput.writeCapacityUnits", AT_LEAST_1) + "; "
     + constraint("'0'", "provisionedThroughput.readCapacityUnits", AT_LEAST_1)),
    ("provisioned without throughput",
     request(BASE, BillingMode="PROVISIONED", ProvisionedThroughput=MISSING), ValidationException,
     INVALID + "ReadCapacityUnits and WriteCapacityUnits must both be specified when "
     "BillingMode is PROVISIONED"),
    ("default billing without throughput", request(BASE, ProvisionedThroughput=MISSING),
     ValidationException,
     INVALID + "ReadCapacityUnits and WriteCapacityUnits must both be specified when "
     "BillingMode is PROVISIONED"),
    ("read units only", request(BASE, ProvisionedThroughput={"ReadCapacityUnits": 4}),
     ValidationException,
     ONE + constraint("null", "provisionedThroughput.writeCapacityUnits", NOT_NULL)),
    ("empty throughput", request(BASE, ProvisionedThroughput={}), ValidationException,
     "2 validation errors detected: "
     + constraint("null", "provisionedThroughput.writeCapacityUnits", NOT_NULL) + "; "
     + constraint("null", "provisionedThroughput.readCapacityUnits", NOT_NULL)),
    ("negative units",
     request(BASE, ProvisionedThroughput={"ReadCapacityUnits": -1, "WriteCapacityUnits": -1}),
     ValidationException,
     "2 validation errors detected: "
     + constraint("'-1'", "provisionedThroughput.writeCapacityUnits", AT_LEAST_1) + "; "
     + constraint("'-1'", "provisionedThroughput.readCapacityUnits", AT_LEAST_1)),
    ("units out of bounds",
     request(BASE, ProvisionedThroughput={"ReadCapacityUnits": 10**12 + 1,
                                          "WriteCapacityUnits": 1}),
     ValidationException, "Given value 1000000000001 for ReadCapacityUnits is out of bounds"),
    ("no definitions for the key", request(BASE, AttributeDefinitions=[]), ValidationException,
     "Invalid KeySchema: Some index key attribute have no definition"),
    ("same attribute as hash and range", request(BASE, KeySchema=[PK, dict(PK, KeyType="RANGE")]),
     ValidationException, "Invalid KeySchema: Some index key attribute have no definition"),
    ("key name case differs",
     request(BASE, KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}]), ValidationException,
     INVALID + "Some index key attributes are not defined in AttributeDefinitions. "
     "Keys: [PK], AttributeDefinitions: [pk]"),
    ("key not defined",
     request(BASE, AttributeDefinitions=[{"AttributeName": "other", "AttributeType": "S"}]),
     ValidationException,
     INVALID + "Some index key attributes are not defined in AttributeDefinitions. "
     "Keys: [pk], AttributeDefinitions: [other]"),
    ("duplicate definitions", request(BASE, AttributeDefinitions=[PK_S, PK_S]),
     ValidationException, "Attribute Name is duplicated: pk"),
    ("duplicate definitions of two types",
     request(BASE, AttributeDefinitions=[PK_S, dict(PK_S, AttributeType="N")]),
     ValidationException, "Attribute Name is duplicated: pk"),
    ("unused definition", request(BASE, AttributeDefinitions=[PK_S, SK_N]), ValidationException,
     INVALID + "Number of attributes in KeySchema does not exactly match number of attributes "
     "defined in AttributeDefinitions"),
    ("range first", request(BASE, KeySchema=[SK, PK], AttributeDefinitions=[PK_S, SK_N]),
     ValidationException, "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"),
    ("range only", request(BASE, KeySchema=[dict(PK, KeyType="RANGE")]), ValidationException,
     "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"),
    ("two hash keys", request(BASE, KeySchema=[PK, dict(SK, KeyType="HASH")],
                              AttributeDefinitions=[PK_S, SK_N]),
     ValidationException, "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"),
    ("one name for both keys",
     request(BASE, KeySchema=[PK, dict(PK, KeyType="RANGE")], AttributeDefinitions=[PK_S, SK_N]),
     ValidationException,
     "Both the Hash Key and the Range Key element in the KeySchema have the same name"),
    ("empty stream view type",
     request(BASE, StreamSpecification={"StreamEnabled": False, "StreamViewType": ""}),
     ValidationException,
     ONE + constraint("''", "streamSpecification.streamViewType",
                      "Member must satisfy enum value set: "
                      "[OLD_IMAGE, KEYS_ONLY, NEW_AND_OLD_IMAGES, NEW_IMAGE]")),
    ("stream without enabled", request(BASE, StreamSpecification={}), ValidationException,
     ONE + constraint("null", "streamSpecification.streamEnabled", NOT_NULL)),
    ("disabled stream with view type",
     request(BASE, StreamSpecification={"StreamEnabled": False, "StreamViewType": "NEW_IMAGE"}),
     ValidationException,
     INVALID + "Table is being created with a stream disabled, UpdateViewType should not be "
     "specified"),
    ("empty KMS key id", request(BASE, SSESpecification={"Enabled": True, "KMSMasterKeyId": ""}),
     ValidationException,
     ONE + constraint("''", "sSESpecification.kMSMasterKeyId",
                      "Member must have length greater than or equal to 1")),
    ("bad table class", request(BASE, TableClass="GLACIER"), ValidationException,
     ONE + constraint("'GLACIER'", "tableClass", "Member must satisfy enum value set: "
                      "[STANDARD, STANDARD_INFREQUENT_ACCESS]")),
    ("tag with aws prefix", request(BASE, Tags=[{"Key": "aws:foo", "Value": "v"}]),
     ValidationException, "Tag Key cannot be prefixed with aws:, Key: aws:foo"),
    ("tag key too long", request(BASE, Tags=[{"Key": "k" * 129, "Value": "v"}]),
     ValidationException, f"The Tag Key provided is invalid, Key: {'k' * 129}"),
    ("tag key with hash sign", request(BASE, Tags=[{"Key": "a#b", "Value": "v"}]),
     ValidationException, "The Tag Key provided is invalid, Key: a#b"),
    ("tag without key", request(BASE, Tags=[{"Value": "v"}]), ValidationException,
     "The Tag Key provided is invalid, Key: null"),
    ("tag without value", request(BASE, Tags=[{"Key": "k"}]), ValidationException,
     "The Tag Value provided is invalid, Value: null"),
    ("51 tags", request(BASE, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)]),
     ValidationException, "Number of Tags exceed the current limit for the provided ResourceArn"),
    ("duplicate tag keys",
     request(BASE, Tags=[{"Key": "env", "Value": "a"}, {"Key": "env", "Value": "b"}]),
     ValidationException,
     "Duplicate tag keys found. Please note that Tag keys are case insensitive."),
]  # fmt: skip


@pytest.mark.parametrize(
    ("req", "error", "message"),
    [case[1:] for case in CREATE_ERRORS],
    ids=[case[0] for case in CREATE_ERRORS],
)
def test_create_table_errors(req: dict[str, Any], error: type[ClientError], message: str) -> None:
    with pytest.raises(error) as info:
        validate_create_table(req)
    assert type(info.value) is error
    assert info.value.message == message
    assert info.value.response["Error"] == {"Code": error.code, "Message": message}


REFUSED = [
    ("GlobalSecondaryIndexes", []),
    ("LocalSecondaryIndexes", [{"IndexName": "lsi"}]),
    ("OnDemandThroughput", {"MaxReadRequestUnits": 10}),
    ("WarmThroughput", {"ReadUnitsPerSecond": 100}),
    ("ResourcePolicy", "{}"),
    ("GlobalTableSourceArn", "arn:aws:dynamodb:x:1:table/t"),
    ("StreamSpecification", {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}),
    ("SSESpecification", {"Enabled": True}),
    ("SSESpecification", {"Enabled": False, "KMSMasterKeyId": "alias/mine"}),
    ("SSESpecification", {"SSEType": "KMS"}),
    ("DeletionProtectionEnabled", True),
]


@pytest.mark.parametrize(("parameter", "value"), REFUSED)
def test_unsupported_features_are_refused_clearly(parameter: str, value: Any) -> None:
    with pytest.raises(ValidationException) as info:
        validate_create_table(request(PPR, **{parameter: value}))
    assert info.value.message.startswith(INVALID)
    assert "not supported by raydynamo" in info.value.message


@pytest.mark.parametrize(
    ("req", "param"),
    [
        (request(BASE, TableName=5), "TableName"),
        (request(BASE, KeySchema="pk"), "KeySchema"),
        (request(BASE, KeySchema=["pk"]), "KeySchema[0]"),
        (request(BASE, AttributeDefinitions={"pk": "S"}), "AttributeDefinitions"),
        (request(BASE, ProvisionedThroughput={"ReadCapacityUnits": "5", "WriteCapacityUnits": 5}),
         "ProvisionedThroughput.ReadCapacityUnits"),
        (request(BASE, ProvisionedThroughput={"ReadCapacityUnits": True, "WriteCapacityUnits": 5}),
         "ProvisionedThroughput.ReadCapacityUnits"),
        (request(BASE, BillingMode=1), "BillingMode"),
        (request(BASE, Tags={"k": "v"}), "Tags"),
        (request(BASE, DeletionProtectionEnabled="no"), "DeletionProtectionEnabled"),
    ],
)  # fmt: skip
def test_wrong_python_types_are_serialization_errors(req: dict[str, Any], param: str) -> None:
    with pytest.raises(SerializationException) as info:
        validate_create_table(req)
    assert info.value.message.startswith(f"Invalid type for parameter {param}, value: ")


def test_unknown_parameter_is_named() -> None:
    with pytest.raises(ValidationException) as info:
        validate_create_table(request(BASE, Foo=1))
    assert info.value.message.startswith('Unknown parameter in input: "Foo", must be one of: ')
    with pytest.raises(SerializationException):
        validate_create_table(["TableName", "x"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "extra",
    [
        {"Tags": [{"Key": "env", "Value": "dev"}, {"Key": "Team Näme:/=+-@_.", "Value": ""}]},
        {"Tags": []},
        {"SSESpecification": {}},
        {"SSESpecification": {"Enabled": False}},
        {"StreamSpecification": {"StreamEnabled": False}},
        {"TableClass": "STANDARD_INFREQUENT_ACCESS"},
        {"DeletionProtectionEnabled": False},
        {"BillingMode": None},
    ],
)
def test_harmless_features_are_accepted(extra: dict[str, Any]) -> None:
    spec = validate_create_table(request(BASE, **extra))
    assert spec.table_name == "Music"
    assert spec.tags == tuple((t["Key"], t["Value"]) for t in extra.get("Tags", []))


def test_spec_of_a_composite_key_table() -> None:
    spec = validate_create_table(
        request(PPR, KeySchema=[PK, SK], AttributeDefinitions=[SK_N, PK_S], TableClass="STANDARD")
    )
    assert spec.key == KeySchema("pk", "S", "sk", "N")
    assert spec.attribute_definitions == (("sk", "N"), ("pk", "S"))  # the order sent
    assert (spec.billing_mode, spec.read_capacity_units, spec.write_capacity_units) == (
        "PAY_PER_REQUEST",
        0,
        0,
    )
    assert spec.table_class == "STANDARD"
    provisioned = validate_create_table(BASE)
    assert (provisioned.billing_mode, provisioned.read_capacity_units) == ("PROVISIONED", 5)


# ---------------------------------------------------------------- responses and records


def make(req: dict[str, Any], *, table_id: str = "tid-1") -> TableDescription:
    return TableDescription.from_spec(validate_create_table(req), table_id=table_id, now=NOW)


def test_create_response_of_a_provisioned_table() -> None:
    response = create_table_response(make(BASE))
    assert response == {
        "TableDescription": {
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "TableName": "Music",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "TableStatus": "CREATING",
            "CreationDateTime": NOW,
            "ProvisionedThroughput": {
                "NumberOfDecreasesToday": 0,
                "ReadCapacityUnits": 5,
                "WriteCapacityUnits": 5,
            },
            "TableSizeBytes": 0,
            "ItemCount": 0,
            "TableArn": "arn:aws:dynamodb:local:000000000000:table/Music",
            "TableId": "tid-1",
            "DeletionProtectionEnabled": False,
        }
    }


def test_on_demand_table_shows_billing_summary_and_zero_throughput() -> None:
    description = make(request(PPR, KeySchema=[PK, SK], AttributeDefinitions=[PK_S, SK_N]))
    created = create_table_response(description)["TableDescription"]
    assert created["BillingModeSummary"] == {"BillingMode": "PAY_PER_REQUEST"}
    assert created["ProvisionedThroughput"] == {
        "NumberOfDecreasesToday": 0,
        "ReadCapacityUnits": 0,
        "WriteCapacityUnits": 0,
    }
    described = describe_table_response(description.with_status(TableStatus.ACTIVE))["Table"]
    assert described["BillingModeSummary"] == {
        "BillingMode": "PAY_PER_REQUEST",
        "LastUpdateToPayPerRequestDateTime": NOW,
    }
    assert described["TableStatus"] == "ACTIVE"
    assert described["KeySchema"] == [PK, SK]
    assert "TableClassSummary" not in described
    assert isinstance(described["CreationDateTime"], datetime)
    assert described["CreationDateTime"].tzinfo is not None


def test_table_class_is_echoed_only_when_given() -> None:
    described = make(request(PPR, TableClass="STANDARD_INFREQUENT_ACCESS")).to_response()
    assert described["TableClassSummary"] == {"TableClass": "STANDARD_INFREQUENT_ACCESS"}


def test_record_round_trip_through_msgpack_and_json() -> None:
    description = make(
        request(PPR, KeySchema=[PK, SK], AttributeDefinitions=[SK_N, PK_S],
                Tags=[{"Key": "env", "Value": "dév"}], TableClass="STANDARD"),
    ).with_stats(item_count=7, table_size_bytes=1234)  # fmt: skip
    record = description.to_record()
    packed = msgpack.unpackb(msgpack.packb(record, use_bin_type=True), raw=False)
    assert TableDescription.from_record(packed) == description
    assert TableDescription.from_record(json.loads(json.dumps(record))) == description


def test_schema_is_what_the_data_path_needs() -> None:
    description = make(request(PPR, KeySchema=[PK, SK], AttributeDefinitions=[PK_S, SK_N]))
    assert description.schema() == TableSchema("Music", "tid-1", KeySchema("pk", "S", "sk", "N"))


# ---------------------------------------------------------------- describe, delete, list requests


@pytest.mark.parametrize("validate", [validate_describe_table, validate_delete_table])
def test_table_name_requests(validate: Any) -> None:
    assert validate({"TableName": "Music"}) == "Music"
    assert validate({"TableName": "arn:aws:dynamodb:local:000000000000:table/Music"}) == "Music"
    with pytest.raises(ValidationException) as info:
        validate({})
    assert info.value.message == (
        "The parameter 'TableName' is required but was not present in the request"
    )
    with pytest.raises(ValidationException) as info:
        validate({"TableName": "ab"})
    assert info.value.message == ONE + constraint(
        "'ab'", "tableName", "Member must have length greater than or equal to 3"
    )
    with pytest.raises(ValidationException) as info:
        validate({"TableName": "arn:aws:dynamodb:local:000000000000:table/a b"})
    assert info.value.message == ONE + constraint("'a b'", "tableName", PATTERN)
    with pytest.raises(SerializationException):
        validate({"TableName": 3})


LIST_ERRORS = [
    ({"Limit": 0}, ONE + constraint("'0'", "limit", AT_LEAST_1)),
    ({"Limit": 101},
     ONE + constraint("'101'", "limit", "Member must have value less than or equal to 100")),
    ({"ExclusiveStartTableName": ""},
     "2 validation errors detected: " + constraint("''", "exclusiveStartTableName", PATTERN)
     + "; " + constraint("''", "exclusiveStartTableName",
                         "Member must have length greater than or equal to 3")),
    ({"ExclusiveStartTableName": "a" * 256},
     ONE + constraint(f"'{'a' * 256}'", "exclusiveStartTableName",
                      "Member must have length less than or equal to 255")),
]  # fmt: skip


@pytest.mark.parametrize(("req", "message"), LIST_ERRORS)
def test_list_tables_errors(req: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationException) as info:
        validate_list_tables(req)
    assert info.value.message == message


def test_list_tables_request_defaults_and_types() -> None:
    assert validate_list_tables({}) == ListTablesRequest(None, 100)
    assert validate_list_tables({"Limit": 1, "ExclusiveStartTableName": "abc"}) == (
        ListTablesRequest("abc", 1)
    )
    with pytest.raises(SerializationException):
        validate_list_tables({"Limit": "5"})


def test_list_tables_pages_in_byte_order() -> None:
    names = ["beta", "Alpha", "alpha", "Beta", "gamma"]
    first = list_tables_page(names, ListTablesRequest(None, 2))
    assert first == {"TableNames": ["Alpha", "Beta"], "LastEvaluatedTableName": "Beta"}
    second = list_tables_page(names, ListTablesRequest("Beta", 2))
    assert second == {"TableNames": ["alpha", "beta"], "LastEvaluatedTableName": "beta"}
    last = list_tables_page(names, ListTablesRequest("beta", 2))
    assert last == {"TableNames": ["gamma"]}  # the final page carries no cursor
    exact = list_tables_page(names, ListTablesRequest("alpha", 2))
    assert exact == {"TableNames": ["beta", "gamma"]}  # ends on the last name: no cursor
    assert list_tables_page(names, ListTablesRequest("gamma", 2)) == {"TableNames": []}
    assert list_tables_page(names, ListTablesRequest("absent", 10)) == {
        "TableNames": ["alpha", "beta", "gamma"]  # a cursor need not name a table
    }
    assert list_tables_page([], ListTablesRequest()) == {"TableNames": []}


# ---------------------------------------------------------------- no input crashes validation

_json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 10**13)
    | st.text(max_size=6)
    | st.sampled_from(["HASH", "t\udfff", "\ud800"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
_parameters = st.sampled_from(
    ["TableName", "KeySchema", "AttributeDefinitions", "BillingMode", "ProvisionedThroughput",
     "StreamSpecification", "SSESpecification", "Tags", "TableClass", "DeletionProtectionEnabled",
     "GlobalSecondaryIndexes", "Limit", "ExclusiveStartTableName"]
)  # fmt: skip
_element = st.fixed_dictionaries(
    {},
    optional={
        "AttributeName": st.sampled_from(["pk", "sk", "", "\ud800", "x" * 300]) | _json_like,
        "KeyType": st.sampled_from(["HASH", "RANGE", "X"]) | _json_like,
        "AttributeType": st.sampled_from(["S", "N", "B", "Q"]) | _json_like,
        "Key": st.text(max_size=5) | _json_like,
        "Value": st.text(max_size=5) | _json_like,
    },
)


@settings(max_examples=1500, deadline=None)
@given(
    base=st.sampled_from([BASE, PPR]),
    changes=st.dictionaries(
        _parameters, _json_like | st.lists(_element, max_size=3) | _element, max_size=4
    ),
)
def test_any_request_gets_a_spec_or_a_client_error(
    base: dict[str, Any], changes: dict[str, Any]
) -> None:
    req = request(base, **changes)
    for validate in (
        validate_create_table,
        validate_describe_table,
        validate_delete_table,
        validate_list_tables,
    ):
        try:
            validate(req)
        except ClientError as err:
            err.message.encode("utf-8")  # a message that can leave the process
