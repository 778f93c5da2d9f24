"""LALR grammars of the DynamoDB expression languages, and the lark parsers built from them.

Role: turn the token list of ``tokens.tokenize`` into a lark parse tree, or report the index of
the first token the grammar cannot accept. Tokens are fed one by one to lark's interactive LALR
parser (our own lexer decides what a token is, see ``tokens.py``), so the offending token is
exactly DynamoDB's.

The condition grammar deliberately parses operands and conditions with one ``atom`` rule (a
parenthesised atom may hold either): DynamoDB accepts ``(a) = :v`` as well as ``(a = :v)``, and
reports a misplaced function (``size(a)`` alone, ``attribute_exists(a) = :v``) as a semantic error,
not a syntax error. ``parse.py`` sorts atoms into operands and conditions.

Precedence (lowest first): OR, AND, NOT, then comparisons / BETWEEN / IN, then functions and
parentheses. Invariant: the grammars are LALR(1); building them raises on any conflict.
Must not import ray or rocksdict.
"""

from __future__ import annotations

import threading
from functools import cache

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput, UnexpectedToken
from lark.lexer import Lexer

from raydynamo.api.expressions.tokens import TERMINALS, Tok

_DECLARE = "%declare " + " ".join(TERMINALS)

_PATH_RULES = """
path: path_name (DOT path_name | LSQB NUMBER RSQB)*
path_name: NAME | NAME_REF
"""

CONDITION_GRAMMAR = (
    """
start: or_expr
?or_expr: and_expr
    | or_expr OR and_expr -> or_
?and_expr: not_expr
    | and_expr AND not_expr -> and_
?not_expr: predicate
    | NOT not_expr -> not_
?predicate: atom
    | atom comparator atom -> compare
    | atom BETWEEN atom AND atom -> between
    | atom IN LPAR atom_list RPAR -> in_
comparator: EQ | CMP
atom_list: atom (COMMA atom)*
?atom: path
    | VALUE_REF -> value
    | NAME LPAR atom_list RPAR -> function
    | LPAR or_expr RPAR -> paren
"""
    + _PATH_RULES
    + _DECLARE
)

UPDATE_GRAMMAR = (
    """
start: clause+
clause: SET set_action (COMMA set_action)* -> set_clause
    | REMOVE path (COMMA path)* -> remove_clause
    | ADD path VALUE_REF (COMMA path VALUE_REF)* -> add_clause
    | DELETE path VALUE_REF (COMMA path VALUE_REF)* -> delete_clause
set_action: path EQ set_value
?set_value: operand
    | operand PLUS operand -> plus
    | operand MINUS operand -> minus
    | LPAR operand PLUS operand RPAR -> plus
    | LPAR operand MINUS operand RPAR -> minus
?operand: path
    | VALUE_REF -> value
    | NAME LPAR operand (COMMA operand)* RPAR -> function
    | LPAR operand RPAR -> paren
"""
    + _PATH_RULES
    + _DECLARE
)

PROJECTION_GRAMMAR = (
    """
start: path (COMMA path)*
"""
    + _PATH_RULES
    + _DECLARE
)

GRAMMARS: dict[str, str] = {
    "condition": CONDITION_GRAMMAR,
    "update": UPDATE_GRAMMAR,
    "projection": PROJECTION_GRAMMAR,
}


class _NoLexer(Lexer):
    """Placeholder lexer: tokens are always fed through the interactive parser."""

    def __init__(self, lexer_conf: object) -> None:
        del lexer_conf

    def lex(self, lexer_state: object, parser_state: object):  # pragma: no cover - never called
        raise AssertionError("expressions are lexed by tokens.tokenize")


_build_lock = threading.Lock()


@cache
def _parser(kind: str) -> Lark:
    with _build_lock:
        return Lark(
            GRAMMARS[kind],
            parser="lalr",
            lexer=_NoLexer,
            strict=True,
            maybe_placeholders=False,
        )


class GrammarError(Exception):
    """The token at ``index`` (``len(tokens)`` for end of input) cannot be accepted."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def parse_tokens(kind: str, tokens: list[Tok]) -> Tree:
    """Parse ``tokens`` with the ``kind`` grammar; raise ``GrammarError`` at the first bad token.

    Each lark ``Token`` carries the position of its ``Tok`` in ``tokens`` as ``start_pos`` so the
    tree builder can find the token that follows any subtree.
    """
    interactive = _parser(kind).parse_interactive()
    for index, tok in enumerate(tokens):
        token = Token(tok.type, tok.text, start_pos=index, end_pos=index + 1)
        try:
            interactive.feed_token(token)
        except UnexpectedInput as exc:
            raise GrammarError(index) from exc
    try:
        return interactive.feed_eof()
    except UnexpectedToken as exc:
        raise GrammarError(len(tokens)) from exc
    except UnexpectedInput as exc:  # pragma: no cover - lark raises UnexpectedToken at EOF
        raise GrammarError(len(tokens)) from exc
