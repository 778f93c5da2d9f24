"""DynamoDB's expression language: parse, validate and evaluate, pure Python.

Role: everything a request's ConditionExpression, FilterExpression, KeyConditionExpression,
UpdateExpression and ProjectionExpression (and their legacy equivalents) need, with DynamoDB's
error messages. The layers, each in its own module::

    tokens.py        lexer, and the text of syntax errors (``token: "x", near: "..."``)
    grammar.py       LALR grammars (lark) for conditions, updates, projections
    parse.py         text -> typed tree (``nodes.py``), cached on the text
    validate.py      tree + ExpressionAttributeNames/Values -> DynamoDB's semantic errors
    request.py       all expressions of one request together (mixing, unused placeholders)
    paths.py         document paths in items; projections
    condition.py     condition evaluation
    update.py        update evaluation
    key_condition.py KeyConditionExpression -> partition value + sort key condition
    legacy.py        Expected, QueryFilter, ScanFilter, KeyConditions, AttributesToGet,
                     AttributeUpdates, ConditionalOperator -> the same trees
    wire.py          the one wire form of bound conditions and updates (router -> replica)

Typical use by an operation::

    compiled = compile_request("UpdateItem", request)          # raises ValidationException
    if compiled.condition and not evaluate_condition(compiled.condition, old, compiled.names,
                                                     compiled.values):
        raise ConditionalCheckFailedException("The conditional request failed")
    result = apply_update(compiled.update, old, compiled.names, compiled.values)

Invariant: nothing here performs I/O or keeps state beyond two bounded caches (parsed text at
the router, decoded wire shapes at the replica), neither of which changes any result.
Must not import ray or rocksdict.
"""

from raydynamo.api.expressions.condition import bind_condition, evaluate_condition
from raydynamo.api.expressions.key_condition import (
    KeyCondition,
    KeySchema,
    SortKeyCondition,
    analyze_key_condition,
)
from raydynamo.api.expressions.legacy import (
    LegacyTranslation,
    translate_attribute_updates,
    translate_attributes_to_get,
    translate_expected,
    translate_filter,
    translate_key_conditions,
)
from raydynamo.api.expressions.nodes import (
    AddAction,
    And,
    Arithmetic,
    Between,
    Comparison,
    Condition,
    DeleteAction,
    FunctionCall,
    In,
    Index,
    Name,
    NameRef,
    Not,
    Operand,
    Or,
    Path,
    ProjectionExpression,
    RemoveAction,
    ResolvedPath,
    SetAction,
    UpdateAction,
    UpdateExpression,
    ValueRef,
)
from raydynamo.api.expressions.parse import Parsed, parse_cache_clear, parse_expression
from raydynamo.api.expressions.paths import (
    get_path,
    project,
    project_paths,
    projection_paths,
    resolve_path,
)
from raydynamo.api.expressions.request import (
    CompiledExpressions,
    check_parameter_mix,
    compile_expressions,
    compile_request,
)
from raydynamo.api.expressions.reserved import RESERVED_WORDS, is_reserved
from raydynamo.api.expressions.update import UpdateResult, apply_update, key_update_error

__all__ = [
    "RESERVED_WORDS",
    "AddAction",
    "And",
    "Arithmetic",
    "Between",
    "Comparison",
    "CompiledExpressions",
    "Condition",
    "DeleteAction",
    "FunctionCall",
    "In",
    "Index",
    "KeyCondition",
    "KeySchema",
    "LegacyTranslation",
    "Name",
    "NameRef",
    "Not",
    "Operand",
    "Or",
    "Parsed",
    "Path",
    "ProjectionExpression",
    "RemoveAction",
    "ResolvedPath",
    "SetAction",
    "SortKeyCondition",
    "UpdateAction",
    "UpdateExpression",
    "UpdateResult",
    "ValueRef",
    "analyze_key_condition",
    "apply_update",
    "bind_condition",
    "check_parameter_mix",
    "compile_expressions",
    "compile_request",
    "evaluate_condition",
    "get_path",
    "is_reserved",
    "key_update_error",
    "parse_cache_clear",
    "parse_expression",
    "project",
    "project_paths",
    "projection_paths",
    "resolve_path",
    "translate_attribute_updates",
    "translate_attributes_to_get",
    "translate_expected",
    "translate_filter",
    "translate_key_conditions",
]
