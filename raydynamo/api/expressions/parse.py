"""Parse expression text into the typed tree of ``nodes.py``, with a cache on the text.

Role: lexing (``tokens.py``) + LALR parsing (``grammar.py``) + building the tree. Errors found here
need only the text, never the request's placeholders: syntax errors (DynamoDB's ``Syntax error;
token: "x", near: "..."``), the length and nesting limits, and the two shape facts validation
reports later (redundant parentheses, too many IN operands) which are recorded on the result.

Invariants: a parse depends on (grammar, text) only, so results are cached with
``functools.lru_cache`` and shared between requests and threads (they are immutable); inputs longer
than ``EXPRESSION_BYTES_MAX`` are refused before the lexer runs, so parsing time is bounded; trees
nest at most ``NESTING_DEPTH_MAX`` levels (AND/OR chains are flattened), so no later recursive walk
can exhaust Python's stack. Every failure is a ``ValidationException``.
Must not import ray or rocksdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from lark import Token, Tree

from raydynamo.api.errors import ValidationException
from raydynamo.api.expressions.grammar import GrammarError, parse_tokens
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
    PathElement,
    ProjectionExpression,
    RemoveAction,
    SetAction,
    SetValue,
    UpdateAction,
    UpdateExpression,
    ValueRef,
)
from raydynamo.api.expressions.tokens import (
    CONDITION_KEYWORDS,
    NO_KEYWORDS,
    UPDATE_KEYWORDS,
    Tok,
    syntax_error_text,
    tokenize,
)

EXPRESSION_BYTES_MAX = 4096  # DynamoDB: "The maximum length of any expression string is 4 KB."
PATH_DEPTH_MAX = 32  # DynamoDB: "The maximum nesting depth for a document path is 32."
IN_OPERANDS_MAX = 100  # DynamoDB: the IN list holds at most 100 values.
PARSE_CACHE_ENTRIES_MAX = 4096
NESTING_DEPTH_MAX = 100  # parentheses + NOT + function calls; AND/OR chains are flat and free

# The request parameter each expression arrives in, and the grammar that parses it.
GRAMMAR_OF: dict[str, str] = {
    "ConditionExpression": "condition",
    "FilterExpression": "condition",
    "KeyConditionExpression": "condition",
    "UpdateExpression": "update",
    "ProjectionExpression": "projection",
}
_KEYWORDS_OF = {
    "condition": CONDITION_KEYWORDS,
    "update": UPDATE_KEYWORDS,
    "projection": NO_KEYWORDS,
}
_CONDITION_TREES = frozenset({"or_", "and_", "not_", "compare", "between", "in_"})


@dataclass(frozen=True, slots=True)
class Parsed:
    """One parsed expression: its tree, plus facts validation reports in DynamoDB's order."""

    tree: Condition | UpdateExpression | ProjectionExpression
    redundant_parens: bool
    in_operands_max: int  # the longest IN list, 0 when there is none


class _TooDeep(Exception):
    """Parentheses, NOTs and function calls nest deeper than ``NESTING_DEPTH_MAX``."""


class _SyntaxAt(Exception):
    """A structural error found while building the tree, reported as a syntax error at a token."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def invalid(parameter: str, message: str) -> ValidationException:
    """``Invalid <parameter>: <message>``, the prefix DynamoDB puts on expression errors."""
    return ValidationException(f"Invalid {parameter}: {message}")


def parse_expression(parameter: str, text: str) -> Parsed:
    """Parse ``text`` given in request parameter ``parameter`` (e.g. ``"FilterExpression"``)."""
    grammar = GRAMMAR_OF[parameter]
    if text == "":
        raise invalid(parameter, "The expression can not be empty;")
    size_bytes = len(text.encode("utf-8", "surrogatepass"))
    if size_bytes > EXPRESSION_BYTES_MAX:
        raise invalid(
            parameter,
            f"Expression size has exceeded the maximum allowed size; expression size: {size_bytes}",
        )
    result = _parse_cached(grammar, text)
    if isinstance(result, str):
        raise invalid(parameter, result)
    return result


@lru_cache(maxsize=PARSE_CACHE_ENTRIES_MAX)
def _parse_cached(grammar: str, text: str) -> Parsed | str:
    """The parse of ``text``, or the message of its error (errors are cached too)."""
    tokens = tokenize(text, _KEYWORDS_OF[grammar])
    try:
        tree = parse_tokens(grammar, tokens)
        builder = _Builder(tokens)
        if grammar == "condition":
            built: Condition | UpdateExpression | ProjectionExpression = builder.condition(
                tree.children[0]
            )
        elif grammar == "update":
            built = builder.update(tree)
        else:
            built = ProjectionExpression(
                tuple(builder.path(child) for child in tree.children if isinstance(child, Tree))
            )
    except GrammarError as exc:
        return syntax_error_text(text, tokens, exc.index)
    except _SyntaxAt as exc:
        return syntax_error_text(text, tokens, exc.index)
    except _TooDeep:
        # wording unverified: DynamoDB documents no nesting limit for conditions; this bound keeps
        # every recursive walk of the tree far from Python's recursion limit.
        return f"The expression has too many nested levels; nesting levels: {NESTING_DEPTH_MAX + 1}"
    if builder.depth_max > PATH_DEPTH_MAX:
        # wording unverified
        return f"The document path has too many nesting levels; nesting levels: {builder.depth_max}"
    return Parsed(built, builder.redundant_parens, builder.in_operands_max)


def parse_cache_clear() -> None:
    """Forget every cached parse (for tests that count parser calls)."""
    _parse_cached.cache_clear()


def _last_index(tree: Tree | Token) -> int:
    while isinstance(tree, Tree):
        tree = tree.children[-1]
    return tree.start_pos


def _first_index(tree: Tree | Token) -> int:
    while isinstance(tree, Tree):
        tree = tree.children[0]
    return tree.start_pos


def _subtrees(tree: Tree) -> list[Tree]:
    return [child for child in tree.children if isinstance(child, Tree)]


class _Builder:
    """Builds nodes from one lark tree; records shape facts seen on the way."""

    def __init__(self, tokens: list[Tok]) -> None:
        self.tokens = tokens
        self.redundant_parens = False
        self.in_operands_max = 0
        self.depth_max = 0
        self.nesting = 0

    def _enter(self) -> None:
        self.nesting += 1
        if self.nesting > NESTING_DEPTH_MAX:
            raise _TooDeep()

    # --- paths -----------------------------------------------------------------------------

    def path(self, tree: Tree) -> Path:
        elements: list[PathElement] = []
        for child in tree.children:
            if isinstance(child, Tree):  # path_name
                token = child.children[0]
                assert isinstance(token, Token)
                elements.append(
                    NameRef(str(token)) if token.type == "NAME_REF" else Name(str(token))
                )
            elif child.type == "NUMBER":
                elements.append(Index(int(str(child))))
        self.depth_max = max(self.depth_max, len(elements))
        return Path(tuple(elements))

    # --- conditions --------------------------------------------------------------------------

    def condition(self, tree: Tree) -> Condition:
        self._enter()
        try:
            return self._condition(tree)
        finally:
            self.nesting -= 1

    def _chain(self, tree: Tree) -> list[Condition]:
        """The operands of a left-leaning chain of one connective, walked with a loop."""
        kind = tree.data
        right_parts: list[Tree] = []
        while tree.data == kind:
            left, right = _subtrees(tree)
            right_parts.append(right)
            tree = left
        right_parts.append(tree)
        flat: list[Condition] = []
        node_type = Or if kind == "or_" else And
        for part in reversed(right_parts):
            built = self.condition(part)
            flat.extend(built.conditions if isinstance(built, node_type) else (built,))
        return flat

    def _condition(self, tree: Tree) -> Condition:
        kind = tree.data
        parts = _subtrees(tree)
        if kind == "or_":
            return Or(tuple(self._chain(tree)))
        if kind == "and_":
            return And(tuple(self._chain(tree)))
        if kind == "not_":
            return Not(self.condition(parts[0]))
        if kind == "compare":
            operator = str(parts[1].children[0])
            return Comparison(operator, self.operand(parts[0]), self.operand(parts[2]))
        if kind == "between":
            return Between(self.operand(parts[0]), self.operand(parts[1]), self.operand(parts[2]))
        if kind == "in_":
            candidates = tuple(self.operand(item) for item in _subtrees(parts[1]))
            self.in_operands_max = max(self.in_operands_max, len(candidates))
            return In(self.operand(parts[0]), candidates)
        if kind == "function":
            return self.function(tree)
        if kind == "paren":
            inner = parts[0]
            if inner.data == "paren":
                self.redundant_parens = True
            if inner.data in _CONDITION_TREES or inner.data in ("function", "paren"):
                return self.condition(inner)
            raise _SyntaxAt(_last_index(inner) + 1)
        # A bare path or value where a condition belongs: DynamoDB wants a comparator next.
        raise _SyntaxAt(_last_index(tree) + 1)

    def operand(self, tree: Tree) -> Operand:
        self._enter()
        try:
            return self._operand(tree)
        finally:
            self.nesting -= 1

    def _operand(self, tree: Tree) -> Operand:
        kind = tree.data
        if kind == "path":
            return self.path(tree)
        if kind == "value":
            token = tree.children[0]
            return ValueRef(str(token))
        if kind == "function":
            return self.function(tree)
        if kind == "paren":
            inner = _subtrees(tree)[0]
            if inner.data == "paren":
                self.redundant_parens = True
            return self.operand(inner)
        # A condition where an operand belongs: the parser fails at the condition's operator.
        if kind == "not_":
            raise _SyntaxAt(_first_index(tree))
        raise _SyntaxAt(_last_index(tree.children[0]) + 1)

    def function(self, tree: Tree) -> FunctionCall:
        name = str(tree.children[0])
        parts = _subtrees(tree)
        if parts and parts[0].data == "atom_list":
            parts = _subtrees(parts[0])
        return FunctionCall(name, tuple(self.operand(arg) for arg in parts))

    # --- update expressions ------------------------------------------------------------------

    def update(self, tree: Tree) -> UpdateExpression:
        actions: list[UpdateAction] = []
        clauses: list[str] = []
        for clause in _subtrees(tree):
            keyword = clause.children[0]
            assert isinstance(keyword, Token)
            clauses.append(keyword.type)
            actions.extend(self._clause_actions(clause))
        return UpdateExpression(tuple(actions), tuple(clauses))

    def _clause_actions(self, clause: Tree) -> list[UpdateAction]:
        kind = clause.data
        if kind == "set_clause":
            return [self._set_action(action) for action in _subtrees(clause)]
        if kind == "remove_clause":
            return [RemoveAction(self.path(path)) for path in _subtrees(clause)]
        actions: list[UpdateAction] = []
        values = [c for c in clause.children if isinstance(c, Token) and c.type == "VALUE_REF"]
        for path, value in zip(_subtrees(clause), values, strict=True):
            if kind == "add_clause":
                actions.append(AddAction(self.path(path), ValueRef(str(value))))
            else:
                actions.append(DeleteAction(self.path(path), ValueRef(str(value))))
        return actions

    def _set_action(self, tree: Tree) -> SetAction:
        path_tree, value_tree = _subtrees(tree)
        return SetAction(self.path(path_tree), self._set_value(value_tree))

    def _set_value(self, tree: Tree) -> SetValue:
        if tree.data in ("plus", "minus"):
            left, right = _subtrees(tree)
            operator = "+" if tree.data == "plus" else "-"
            return Arithmetic(operator, self.update_operand(left), self.update_operand(right))
        return self.update_operand(tree)

    def update_operand(self, tree: Tree) -> Operand:
        self._enter()
        try:
            return self._update_operand(tree)
        finally:
            self.nesting -= 1

    def _update_operand(self, tree: Tree) -> Operand:
        if tree.data == "function":
            name = str(tree.children[0])
            return FunctionCall(name, tuple(self.update_operand(a) for a in _subtrees(tree)))
        if tree.data == "paren":
            return self.update_operand(_subtrees(tree)[0])
        return self.operand(tree)
