"""The lexer of DynamoDB expressions, and the ``token: "...", near: "..."`` text of syntax errors.

Role: cut an expression into tokens the way DynamoDB's lexer does, so that the LALR parser
(``grammar.py``) and the syntax-error message agree with DynamoDB on what a token is:

- names start with a letter: ``[A-Za-z][A-Za-z0-9_]*`` (``_x`` is a syntax error on ``_``);
- ``#name`` and ``:value`` placeholders: ``#`` or ``:`` followed by ``[A-Za-z0-9_]+``;
- list indexes are decimal digits; punctuation ``( ) [ ] , . = <> < <= > >= + -``;
- keywords are case-insensitive and depend on the expression kind (AND/OR/NOT/BETWEEN/IN in
  conditions; SET/REMOVE/ADD/DELETE in updates); elsewhere the same words are plain names;
- any other character is a one-character ``BAD`` token, which no grammar rule accepts, so the
  parser reports it as the offending token.

DynamoDB's message quotes the offending token and the source text from the start of the token
before it to the end of the token after it (``<EOF>`` at the end), which ``near_text`` rebuilds.

Invariants: tokens cover the input in order, never overlap, and whitespace is the only text
between them. Must not import ray or rocksdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CONDITION_KEYWORDS: frozenset[str] = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN"})
UPDATE_KEYWORDS: frozenset[str] = frozenset({"SET", "REMOVE", "ADD", "DELETE"})
NO_KEYWORDS: frozenset[str] = frozenset()

EOF_TEXT = "<EOF>"

_TOKEN_RE = re.compile(
    r"""
    (?P<WS>[ \t\r\n]+)
  | (?P<NAME>[A-Za-z][A-Za-z0-9_]*)
  | (?P<NAME_REF>\#[A-Za-z0-9_]+)
  | (?P<VALUE_REF>:[A-Za-z0-9_]+)
  | (?P<NUMBER>[0-9]+)
  | (?P<CMP><>|<=|>=|<|>)
  | (?P<EQ>=)
  | (?P<LPAR>\()
  | (?P<RPAR>\))
  | (?P<LSQB>\[)
  | (?P<RSQB>\])
  | (?P<COMMA>,)
  | (?P<DOT>\.)
  | (?P<PLUS>\+)
  | (?P<MINUS>-)
  | (?P<BAD>.)
    """,
    re.VERBOSE | re.DOTALL,
)

# Every terminal the grammars may see; grammar.py declares exactly these.
TERMINALS: tuple[str, ...] = (
    "NAME",
    "NAME_REF",
    "VALUE_REF",
    "NUMBER",
    "CMP",
    "EQ",
    "LPAR",
    "RPAR",
    "LSQB",
    "RSQB",
    "COMMA",
    "DOT",
    "PLUS",
    "MINUS",
    "BAD",
    *sorted(CONDITION_KEYWORDS | UPDATE_KEYWORDS),
)


@dataclass(frozen=True, slots=True)
class Tok:
    """One token: its terminal type, its text, and its [start, end) offsets in the source."""

    type: str
    text: str
    start: int
    end: int


def tokenize(text: str, keywords: frozenset[str]) -> list[Tok]:
    """Cut ``text`` into tokens; whitespace is dropped, unknown characters become ``BAD``."""
    tokens: list[Tok] = []
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup
        assert kind is not None
        if kind == "WS":
            continue
        value = match.group()
        if kind == "NAME" and value.upper() in keywords:
            kind = value.upper()
        tokens.append(Tok(kind, value, match.start(), match.end()))
    return tokens


def near_text(text: str, tokens: list[Tok], index: int) -> str:
    """DynamoDB's ``near`` window around ``tokens[index]`` (``index == len(tokens)`` is EOF)."""
    assert 0 <= index <= len(tokens)
    start = (
        tokens[index - 1].start
        if index > 0
        else (tokens[index].start if index < len(tokens) else len(text))
    )
    if index + 1 < len(tokens):
        end = tokens[index + 1].end
    elif index < len(tokens):
        end = tokens[index].end
    else:
        end = len(text) if not tokens else tokens[-1].end
    return text[start:end]


def syntax_error_text(text: str, tokens: list[Tok], index: int) -> str:
    """``Syntax error; token: "<tok>", near: "<window>"`` for the token at ``index``."""
    token_text = tokens[index].text if index < len(tokens) else EOF_TEXT
    return f'Syntax error; token: "{token_text}", near: "{near_text(text, tokens, index)}"'
