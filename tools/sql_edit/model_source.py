"""A dbt model's source text as SQL positions: Jinja set aside at the same length, parsed by sqlglot.

Every edit in this package is a splice at positions of the file as the user wrote it, so the bytes
outside the splices (Jinja loops, comments, blank lines, casing) stay theirs. To find positions, each
Jinja span is replaced by text of the *same length*: an expression (``{{ ref('x') }}``) by a
placeholder identifier, a tag or comment (``{% for %}``, ``{# #}``) and a ``config()`` call by spaces
(newlines kept). The masked text then parses as SQL, and an offset in it is the same offset in the
file. Spans are found with Jinja's own lexer, never a regex, so ``'}}'`` in a string or a nested
``{...}`` in a config call cannot end one early.

A loop's body stays once in the masked text (a ``{% for %}`` pivot reads as one column); the
``else``/``elif`` branches of an ``{% if %}`` and the bodies of ``{% macro %}``, ``{% call %}`` and a
block ``{% set %}`` (which output nothing) are masked too, so the first branch is what parses.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import jinja2
import sqlglot
from sqlglot import Token, TokenType, exp
from sqlglot.errors import SqlglotError

from tools.errors import InvalidArguments

SpanKind = Literal["expression", "statement", "comment"]

_OPENERS = frozenset(
    {"for", "if", "macro", "call", "filter", "set", "with", "autoescape", "trans", "block",
     "materialization", "test", "docs", "snapshot"}
)  # fmt: skip
#: blocks whose body is not output where it stands (a definition or a captured value)
_SILENT_BODIES = frozenset({"macro", "call", "set", "materialization", "test", "docs", "snapshot"})
_BRANCHES = frozenset({"elif", "else"})
_PLACEHOLDER_HEAD = "j"
#: clause keywords that end a SELECT's FROM (or its WHERE) at the SELECT's own paren depth
CLAUSE_AFTER_FROM = frozenset(
    {TokenType.WHERE, TokenType.GROUP_BY, TokenType.HAVING, TokenType.QUALIFY, TokenType.WINDOW,
     TokenType.ORDER_BY, TokenType.LIMIT, TokenType.OFFSET, TokenType.FETCH}
)  # fmt: skip
SET_OPERATIONS = frozenset({TokenType.UNION, TokenType.EXCEPT, TokenType.INTERSECT})
_OPEN = frozenset({TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE})
_CLOSE = frozenset({TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE})
_JINJA_ENV = jinja2.Environment()


class EditRefused(InvalidArguments):
    """An edit that cannot be made safely on this model's text: the message says why, the hint what
    to do instead. Nothing was changed."""

    hint = "make this change by hand (edit_file), then run the command again"


# --- Jinja ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JinjaToken:
    kind: str
    value: str
    start: int


@dataclass(frozen=True)
class JinjaSpan:
    """One ``{{ }}``, ``{% %}`` or ``{# #}`` of the file, with the tokens inside it (no whitespace)."""

    start: int
    end: int
    kind: SpanKind
    tokens: tuple[JinjaToken, ...]

    @property
    def head(self) -> str | None:
        """The tag of a statement (``for``, ``endif``) or the first name of an expression (``ref``)."""
        names = [t.value for t in self.tokens if t.kind == "name"]
        return names[0] if names else None

    def calls(self, name: str) -> bool:
        """Whether the expression is a call of ``name`` (``{{ config(...) }}``)."""
        values = [t.value for t in self.tokens]
        return len(values) >= 2 and values[0] == name and values[1] == "("

    def names(self) -> set[str]:
        return {t.value for t in self.tokens if t.kind == "name"}


@dataclass(frozen=True)
class JinjaBlock:
    """``{% tag %} ... {% endtag %}``; ``branches`` are its ``elif``/``else`` tags."""

    tag: str
    open: JinjaSpan
    close: JinjaSpan
    branches: tuple[JinjaSpan, ...] = ()

    def contains(self, offset: int) -> bool:
        return self.open.end <= offset <= self.close.start


def _lex(text: str) -> Iterator[tuple[str, str, int]]:
    """Jinja's tokens with their offsets in ``text``."""
    # Jinja's lexer turns \r\n into \n; the same-length swap keeps every offset valid
    normalized = text.replace("\r\n", " \n").replace("\r", "\n")
    cursor = 0
    try:
        for _, kind, value in _JINJA_ENV.lexer.tokeniter(normalized, None):
            if not value:
                continue
            at = normalized.find(value, cursor)
            if at < 0 or normalized[cursor:at].strip():
                raise EditRefused("the model's Jinja could not be mapped onto its text")
            yield kind, value, at
            cursor = at + len(value)
    except jinja2.TemplateSyntaxError as exc:
        raise EditRefused(f"the model's Jinja does not parse (line {exc.lineno}: {exc.message})") from exc


_BEGIN = {"variable_begin": "expression", "block_begin": "statement", "comment_begin": "comment"}
_END = {"variable_end", "block_end", "comment_end"}


def jinja_spans(text: str) -> list[JinjaSpan]:
    """Every Jinja span of the file, in order. ``{% raw %}`` and ``{% endraw %}`` are statements and
    what lies between them is plain text, as Jinja outputs it."""
    spans: list[JinjaSpan] = []
    start: int | None = None
    kind: SpanKind = "expression"
    inner: list[JinjaToken] = []
    for token_kind, value, at in _lex(text):
        if token_kind in _BEGIN:
            start, kind, inner = at, _BEGIN[token_kind], []  # type: ignore[assignment]
        elif token_kind in _END and start is not None:
            spans.append(JinjaSpan(start, at + len(value.rstrip()), kind, tuple(inner)))
            start = None
        elif token_kind in ("raw_begin", "raw_end"):
            spans.append(JinjaSpan(at, at + len(value.rstrip()), "statement", ()))
        elif start is not None and token_kind != "whitespace":
            inner.append(JinjaToken(token_kind, value, at))
    return spans


def jinja_blocks(spans: Sequence[JinjaSpan], text: str) -> list[JinjaBlock]:
    """Pair each opening tag with its ``end`` tag. A ``{% set x = ... %}`` is not a block."""
    blocks: list[JinjaBlock] = []
    stack: list[tuple[str, JinjaSpan, list[JinjaSpan]]] = []
    for span in spans:
        if span.kind != "statement" or span.head is None:
            continue
        head = span.head
        if head == "set" and any(t.value == "=" for t in span.tokens):
            continue
        if head in _OPENERS:
            stack.append((head, span, []))
        elif head in _BRANCHES and stack:
            stack[-1][2].append(span)
        elif head.startswith("end") and head[3:] in _OPENERS:
            if not stack or stack[-1][0] != head[3:]:
                raise EditRefused(
                    f"the model's Jinja has an unmatched {{% {head} %}} at line {line_of(text, span.start)}"
                )
            tag, opener, branches = stack.pop()
            blocks.append(JinjaBlock(tag, opener, span, tuple(branches)))
    if stack:
        tag, opener, _ = stack[-1]
        raise EditRefused(
            f"the model's Jinja leaves {{% {tag} %}} at line {line_of(text, opener.start)} open"
        )
    return blocks


def _blank(text: str) -> str:
    return "".join(c if c in "\r\n" else " " for c in text)


def _mask(text: str, spans: Sequence[JinjaSpan], blocks: Sequence[JinjaBlock]) -> str:
    chars = list(text)

    def blank(start: int, end: int) -> None:
        chars[start:end] = _blank(text[start:end])

    for span in spans:
        if span.kind == "expression" and not span.calls("config"):
            chars[span.start : span.end] = _PLACEHOLDER_HEAD + "_" * (span.end - span.start - 1)
        else:
            blank(span.start, span.end)
    for block in blocks:
        if block.tag in _SILENT_BODIES:
            blank(block.open.end, block.close.start)
        elif block.branches:  # keep the first branch: what parses as one query
            blank(block.branches[0].start, block.close.start)
    return "".join(chars)


# --- positions --------------------------------------------------------------------------------------


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def line_indent(text: str, offset: int) -> str:
    """The whitespace that starts the line holding ``offset``."""
    start = text.rfind("\n", 0, offset) + 1
    end = start
    while end < len(text) and text[end] in " \t":
        end += 1
    return text[start:end]


@dataclass(frozen=True)
class Splice:
    start: int
    end: int
    text: str


def apply_splices(text: str, splices: Iterable[Splice]) -> str:
    parts: list[str] = []
    position = 0
    for splice in sorted(splices, key=lambda s: (s.start, s.end)):
        if splice.start < position:
            raise AssertionError(f"overlapping edits at offset {splice.start}")
        parts += [text[position : splice.start], splice.text]
        position = splice.end
    parts.append(text[position:])
    return "".join(parts)


def newline_of(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


@dataclass(frozen=True)
class SelectTokens:
    """Where the parts of one SELECT sit among the file's tokens (indexes into ``ModelSource.tokens``)."""

    select: int
    from_: int | None
    #: the first clause after FROM (WHERE, GROUP BY ...) and its token index, by type
    clauses: dict[TokenType, int]
    #: one past the SELECT's last token
    end: int

    def after_from(self) -> int:
        """One past the last token of the FROM clause (joins included)."""
        return min(self.clauses.values(), default=self.end)

    def where_end(self) -> int:
        """One past the last token of the WHERE condition."""
        where = self.clauses[TokenType.WHERE]
        return min((i for i in self.clauses.values() if i > where), default=self.end)


@dataclass
class JinjaFile:
    """A model's text and its Jinja: enough to edit its ``config()`` call without reading its SQL."""

    text: str
    spans: list[JinjaSpan]
    blocks: list[JinjaBlock]

    @classmethod
    def read(cls, text: str) -> JinjaFile:
        spans = jinja_spans(text)
        return cls(text, spans, jinja_blocks(spans, text))

    def span_at(self, offset: int) -> JinjaSpan | None:
        for span in self.spans:
            if span.start <= offset < span.end:
                return span
        return None

    def block_around(self, offset: int) -> JinjaBlock | None:
        """The innermost Jinja block whose body holds ``offset`` (a loop or an if), if any."""
        around = [b for b in self.blocks if b.contains(offset)]
        return max(around, key=lambda b: b.open.start, default=None)

    def refuse_inside_block(self, offset: int, what: str) -> None:
        block = self.block_around(offset)
        if block is not None:
            raise EditRefused(
                f"{what} would land inside the {{% {block.tag} %}} block at line "
                f"{line_of(self.text, block.open.start)}, where Jinja repeats or skips it"
            )

    def config_spans(self) -> list[JinjaSpan]:
        return [s for s in self.spans if s.kind == "expression" and s.calls("config")]


@dataclass
class ModelSource(JinjaFile):
    """The model's file: its text, Jinja, masked SQL, sqlglot tokens (with offsets) and tree."""

    dialect: str = ""
    masked: str = ""
    tokens: list[Token] = field(default_factory=list)
    tree: exp.Query = field(default_factory=exp.Select)
    _starts: list[int] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str, dialect: str, *, what: str = "the model") -> ModelSource:
        jinja = JinjaFile.read(text)
        masked = _mask(text, jinja.spans, jinja.blocks)
        try:
            tokens = sqlglot.tokenize(masked, read=dialect)
            statements = [s for s in sqlglot.parse(masked, read=dialect) if s is not None]
        except SqlglotError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise EditRefused(
                f"{what}'s SQL, with its Jinja set aside, does not parse ({first}), so its structure "
                "cannot be read",
                hint="Jinja that writes SQL keywords or clauses (not just names and values) hides the "
                "query's shape; make this change by hand (edit_file)",
            ) from exc
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):
            raise EditRefused(f"{what} is not a single SELECT query (found {len(statements)} statements)")
        return cls(
            text, jinja.spans, jinja.blocks, dialect, masked, tokens, statements[0], [t.start for t in tokens]
        )

    # tokens

    def token_at(self, offset: int) -> int:
        """Index of the token that starts at ``offset``."""
        index = bisect.bisect_left(self._starts, offset)
        if index == len(self.tokens) or self.tokens[index].start != offset:
            raise AssertionError(f"no token starts at offset {offset}")
        return index

    def end_of(self, index: int) -> int:
        """Offset just past token ``index``."""
        return self.tokens[index].end + 1

    def matching_paren(self, index: int) -> int:
        depth = 0
        for i in range(index, len(self.tokens)):
            kind = self.tokens[i].token_type
            depth += kind in _OPEN
            depth -= kind in _CLOSE
            if depth == 0:
                return i
        raise EditRefused("the model's parentheses do not balance")

    def at_depth_zero(self, lo: int, hi: int) -> Iterator[int]:
        depth = 0
        for i in range(lo, hi):
            kind = self.tokens[i].token_type
            if kind in _CLOSE:
                depth -= 1
            if depth == 0:
                yield i
            if kind in _OPEN:
                depth += 1

    # CTEs and SELECTs

    def ctes(self) -> dict[str, exp.CTE]:
        """The model's own CTEs (its top-level WITH) by lower-cased name."""
        with_ = self.tree.args.get("with_") or self.tree.args.get("with")
        return {cte.alias.lower(): cte for cte in (with_.expressions if with_ else [])}

    def cte_parens(self, name: str) -> tuple[int, int]:
        """Token indexes of the ``(`` and ``)`` around a CTE's body."""
        cte = self.ctes()[name.lower()]
        identifier = cte.args["alias"].this
        index = self.token_at(identifier.meta["start"]) + 1
        if self.tokens[index].token_type == TokenType.L_PAREN:  # a column list: name (a, b) as (...)
            index = self.matching_paren(index) + 1
        while index < len(self.tokens) and self.tokens[index].token_type != TokenType.L_PAREN:
            index += 1
        return index, self.matching_paren(index)

    def main_range(self) -> tuple[int, int]:
        """Token range of the statement's outer query (after its WITH clause)."""
        lo = 0
        ctes = list(self.ctes())
        if ctes:
            lo = self.cte_parens(ctes[-1])[1] + 1
        hi = len(self.tokens)
        while hi > lo and self.tokens[hi - 1].token_type == TokenType.SEMICOLON:
            hi -= 1
        return lo, hi

    def scope_range(self, scope: str | None) -> tuple[int, int]:
        """Token range of a CTE's body (``scope`` its name) or of the outer query (``None``)."""
        if scope is None:
            return self.main_range()
        lparen, rparen = self.cte_parens(scope)
        return lparen + 1, rparen

    def scope_select(self, scope: str | None) -> exp.Expr:
        return self.tree if scope is None else self.ctes()[scope.lower()].this

    def select_tokens(self, scope: str | None, what: str) -> SelectTokens:
        """The clause positions of a CTE's (or the outer query's) SELECT; refused when it is not one
        plain SELECT (a UNION, a nested WITH, a parenthesised query)."""
        lo, hi = self.scope_range(scope)
        found: dict[TokenType, int] = {}
        select = from_ = None
        for i in self.at_depth_zero(lo, hi):
            kind = self.tokens[i].token_type
            if kind in SET_OPERATIONS or (kind == TokenType.WITH and scope is not None):
                token = self.tokens[i]
                raise EditRefused(
                    f"{what} is not one plain SELECT ({token.text.upper()} at line {token.line})"
                )
            if kind == TokenType.SELECT and select is None:
                select = i
            elif kind == TokenType.FROM and from_ is None and select is not None:
                from_ = i
            elif kind in CLAUSE_AFTER_FROM and kind not in found and from_ is not None:
                found[kind] = i
        if select is None:
            raise EditRefused(f"{what} has no SELECT of its own to edit")
        return SelectTokens(select, from_, found, hi)

    def select_items(self, tokens: SelectTokens) -> list[tuple[int, int]]:
        """(first, last) token index of each item of the select list."""
        end = tokens.from_ if tokens.from_ is not None else tokens.end
        first = tokens.select + 1
        while first < end and self.tokens[first].token_type in (TokenType.DISTINCT, TokenType.ALL):
            first += 1
        items: list[tuple[int, int]] = []
        start = first
        for i in self.at_depth_zero(first, end):
            if self.tokens[i].token_type == TokenType.COMMA:
                if i > start:
                    items.append((start, i - 1))
                start = i + 1
        if start < end:
            items.append((start, end - 1))
        return items
