"""A model's Jinja, found with Jinja's own lexer (never a regex, so ``'}}'`` in a string or a nested
``{...}`` in a config call cannot end a span early), and its text with the Jinja masked.

Masking replaces each span by text of the *same length*, so an offset in the masked text is the same
offset in the file: an expression (``{{ ref('x') }}``) becomes a placeholder identifier, a tag, a
comment and a ``config()`` call become spaces (newlines kept). A loop's body stays once (a
``{% for %}`` pivot reads as one column); the ``else``/``elif`` branches of an ``{% if %}`` and the
bodies of ``{% macro %}``, ``{% call %}`` and a block ``{% set %}`` (which output nothing) are masked
too, so the first branch is what parses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import jinja2

from tools.sql_edit.text import EditRefused, line_of

SpanKind = Literal["expression", "statement", "comment"]

_OPENERS = frozenset(
    {"for", "if", "macro", "call", "filter", "set", "with", "autoescape", "trans", "block",
     "materialization", "test", "docs", "snapshot"}
)  # fmt: skip
#: blocks whose body is not output where it stands (a definition or a captured value)
_SILENT_BODIES = frozenset({"macro", "call", "set", "materialization", "test", "docs", "snapshot"})
_BRANCHES = frozenset({"elif", "else"})
_PLACEHOLDER_HEAD = "j"
_JINJA_ENV = jinja2.Environment()


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


_BEGIN: dict[str, SpanKind] = {
    "variable_begin": "expression",
    "block_begin": "statement",
    "comment_begin": "comment",
}
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
            start, kind, inner = at, _BEGIN[token_kind], []
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


def mask(text: str, spans: Sequence[JinjaSpan], blocks: Sequence[JinjaBlock]) -> str:
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
