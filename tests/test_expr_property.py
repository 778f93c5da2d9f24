"""Property: whatever text and placeholder maps arrive, compiling answers with a result or a
ValidationException, never another exception and never a hang (inputs are bounded), and what
compiles also evaluates without any other exception.
"""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raydynamo.api.errors import ClientError, ValidationException
from raydynamo.api.expressions import (
    apply_update,
    compile_expressions,
    evaluate_condition,
    project,
)

# --- property: any input gives a parse result or a ValidationException -------------------------

_FRAGMENTS = st.sampled_from(
    [
        "a", "b.c", "#n", "#m", ":v", ":w", "[0]", "[", "]", "(", ")", ",", ".", "=", "<>", "<",
        "<=", ">", ">=", "+", "-", " AND ", " OR ", "NOT ", " BETWEEN ", " IN ", "SET ", "REMOVE ",
        "ADD ", "DELETE ", "size", "contains", "attribute_exists", "attribute_type", "begins_with",
        "list_append", "if_not_exists", "name", "_", "1", " ", "é", "\n", "#", ":",
    ]
)  # fmt: skip
_OPERANDS = st.sampled_from(["a", "b.c[1]", "#n", "#m.x", ":v", ":w", "size(a)", "size(:v)"])
_FUNCTIONS = st.sampled_from(
    ["attribute_exists", "attribute_type", "begins_with", "contains", "size", "list_append",
     "if_not_exists", "foo"]
)  # fmt: skip


def _call(name_and_args: tuple[str, list[str]]) -> str:
    name, args = name_and_args
    return f"{name}({', '.join(args)})"


_ATOMS = st.one_of(
    st.tuples(_OPERANDS, st.sampled_from(["=", "<>", "<", "<=", ">", ">="]), _OPERANDS).map(
        " ".join
    ),
    st.tuples(_OPERANDS, _OPERANDS, _OPERANDS).map(lambda t: f"{t[0]} BETWEEN {t[1]} AND {t[2]}"),
    st.tuples(_OPERANDS, st.lists(_OPERANDS, min_size=1, max_size=4)).map(
        lambda t: f"{t[0]} IN ({', '.join(t[1])})"
    ),
    st.tuples(_FUNCTIONS, st.lists(_OPERANDS, min_size=1, max_size=3)).map(_call),
)
_CONDITIONS = st.recursive(
    _ATOMS,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" AND ", " or ", " And "]), inner).map("".join),
        inner.map(lambda c: f"NOT {c}"),
        inner.map(lambda c: f"({c})"),
    ),
    max_leaves=8,
)
_TARGETS = st.sampled_from(["a", "b.c[1]", "#n", "#m.x", "a[0]", "name"])
_REFS = st.sampled_from([":v", ":w"])
_UPDATES = st.lists(
    st.one_of(
        st.lists(
            st.one_of(
                st.tuples(_TARGETS, _OPERANDS).map(lambda t: f"{t[0]} = {t[1]}"),
                st.tuples(_TARGETS, _OPERANDS, _OPERANDS).map(
                    lambda t: f"{t[0]} = {t[1]} - {t[2]}"
                ),
                st.tuples(_TARGETS, _FUNCTIONS, st.lists(_OPERANDS, min_size=1, max_size=3)).map(
                    lambda t: f"{t[0]} = {_call((t[1], t[2]))}"
                ),
            ),
            min_size=1,
            max_size=3,
        ).map(lambda actions: "SET " + ", ".join(actions)),
        st.lists(_TARGETS, min_size=1, max_size=3).map(lambda p: "REMOVE " + ", ".join(p)),
        st.tuples(_TARGETS, _REFS).map(lambda t: f"ADD {t[0]} {t[1]}"),
        st.tuples(_TARGETS, _REFS).map(lambda t: f"delete {t[0]} {t[1]}"),
    ),
    min_size=1,
    max_size=3,
).map(" ".join)


def _mutate(text_and_edit: tuple[str, int, str]) -> str:
    """Insert a fragment at a position, or cut the text there: near-misses of valid input."""
    text, position, fragment = text_and_edit
    position %= len(text) + 1
    if fragment == "<cut>":
        return text[:position]
    return text[:position] + fragment + text[position:]


_TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(_FRAGMENTS, max_size=40).map("".join),
    _CONDITIONS,
    _UPDATES,
    st.lists(_TARGETS, min_size=1, max_size=4).map(", ".join),
    st.tuples(
        st.one_of(_CONDITIONS, _UPDATES),
        st.integers(0, 400),
        st.one_of(_FRAGMENTS, st.just("<cut>")),
    ).map(_mutate),
).filter(lambda text: len(text) <= 600)
_VALUE = st.one_of(
    st.fixed_dictionaries({"S": st.sampled_from(["", "a", "N", "SS", "é"])}),
    st.fixed_dictionaries({"N": st.sampled_from(["1", "-2.5"])}),
    st.fixed_dictionaries({"N": st.sampled_from(["1", "-2.5", "1e999", "x"])}),
    st.fixed_dictionaries({"L": st.just([])}),
    st.fixed_dictionaries({"SS": st.lists(st.text(max_size=3), max_size=3)}),
    st.fixed_dictionaries({"BOOL": st.booleans()}),
    st.just({}),
)
_VALID_NAMES = st.dictionaries(
    st.sampled_from(["#n", "#m"]), st.sampled_from(["a", "name", "b.c"]), min_size=1
)
_NAMES = st.one_of(
    st.none(),
    _VALID_NAMES,
    _VALID_NAMES,
    st.dictionaries(st.sampled_from(["#n", "n", "#"]), st.sampled_from(["a", ""])),
)  # fmt: skip
_VALID_VALUES = st.dictionaries(st.sampled_from([":v", ":w"]), _VALUE, min_size=1)
_VALUES = st.one_of(
    st.none(),
    _VALID_VALUES,
    _VALID_VALUES,
    st.dictionaries(st.sampled_from([":v", "v", ":"]), _VALUE, max_size=2),
)
_PARAMETERS = st.sampled_from(
    [
        "ConditionExpression",
        "FilterExpression",
        "KeyConditionExpression",
        "UpdateExpression",
        "ProjectionExpression",
    ]
)


_FIELD_OF = {
    "ConditionExpression": "condition",
    "FilterExpression": "filter",
    "KeyConditionExpression": "key_condition",
    "UpdateExpression": "update",
    "ProjectionExpression": "projection",
}
_PROJECTIONS = st.lists(_TARGETS, min_size=1, max_size=4).map(", ".join)
_TEXT_FOR = {"UpdateExpression": _UPDATES, "ProjectionExpression": _PROJECTIONS}
_ITEM = {
    "a": {"L": [{"N": "1"}, {"S": "x"}]},
    "b": {"M": {"c": {"L": [{"N": "1"}, {"N": "2"}]}}},
    "name": {"SS": ["a", "b"]},
}


@st.composite
def _requests(draw: st.DrawFn) -> tuple[str, str]:
    """An expression parameter and a text, mostly of that parameter's own language."""
    parameter = draw(_PARAMETERS)
    own = _TEXT_FOR.get(parameter, _CONDITIONS)
    text = draw(
        st.one_of(
            own,
            own,
            st.tuples(own, st.integers(0, 400), st.one_of(_FRAGMENTS, st.just("<cut>"))).map(
                _mutate
            ),
            _TEXT,
        )
    )
    return parameter, text


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=_requests(), names=_NAMES, values=_VALUES)
def test_parser_answers_with_a_result_or_a_validation_error(
    request: tuple[str, str], names: dict | None, values: dict | None
) -> None:
    """Arbitrary text and maps: a compiled result or ValidationException, nothing else.

    What compiles is also evaluated against an item, where only ValidationException (an update
    reading a missing attribute, say) may come out.
    """
    parameter, text = request
    try:
        compiled = compile_expressions({parameter: text}, names=names, values=values)
    except ValidationException:
        return
    except ClientError as exc:  # pragma: no cover - a failure of the property
        raise AssertionError(f"unexpected error class {type(exc).__name__}") from exc
    tree = getattr(compiled, _FIELD_OF[parameter])
    assert tree is not None
    if parameter == "UpdateExpression":
        with contextlib.suppress(ValidationException):
            apply_update(tree, _ITEM, compiled.names, compiled.values)
    elif parameter == "ProjectionExpression":
        assert isinstance(project(tree, _ITEM, compiled.names), dict)
    else:
        assert evaluate_condition(tree, _ITEM, compiled.names, compiled.values) in (True, False)
