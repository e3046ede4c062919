"""A dbt model's source text as SQL positions: its Jinja masked at the same length
(tools/sql_edit/jinja_text.py), then tokenised and parsed by sqlglot. Every edit in this package is a
splice at positions of the file as the user wrote it, so the bytes outside the splices (Jinja loops,
comments, blank lines, casing) stay theirs.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

import sqlglot
from sqlglot import Token, TokenType, exp
from sqlglot.errors import SqlglotError

from tools.sql_edit.jinja_text import JinjaFile, mask
from tools.sql_edit.text import EditRefused

#: clause keywords that end a SELECT's FROM (or its WHERE) at the SELECT's own paren depth
CLAUSE_AFTER_FROM = frozenset(
    {TokenType.WHERE, TokenType.GROUP_BY, TokenType.HAVING, TokenType.QUALIFY, TokenType.WINDOW,
     TokenType.ORDER_BY, TokenType.LIMIT, TokenType.OFFSET, TokenType.FETCH}
)  # fmt: skip
SET_OPERATIONS = frozenset({TokenType.UNION, TokenType.EXCEPT, TokenType.INTERSECT})
_OPEN = frozenset({TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE})
_CLOSE = frozenset({TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE})


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
class ModelSource(JinjaFile):
    """The model's file: its text, Jinja, masked SQL, sqlglot tokens (with offsets) and tree."""

    dialect: str
    masked: str
    tokens: list[Token]
    tree: exp.Query
    _starts: list[int]

    @classmethod
    def parse(cls, text: str, dialect: str, *, what: str = "the model") -> ModelSource:
        jinja = JinjaFile.read(text)
        masked = mask(text, jinja.spans, jinja.blocks)
        try:
            tokens = sqlglot.tokenize(masked, read=dialect)
            statements = [s for s in sqlglot.parse(masked, read=dialect) if s is not None]
        except RecursionError as exc:
            raise EditRefused(f"{what}'s SQL is nested too deeply to parse") from exc
        except SqlglotError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise EditRefused(
                f"{what}'s SQL, with its Jinja set aside, does not parse ({first}), so its structure "
                "cannot be read",
                hint="Jinja that writes SQL keywords or clauses (not just names and values) hides the "
                "query's shape; make this change by hand",
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
