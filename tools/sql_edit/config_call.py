"""Settings in a model's ``{{ config(...) }}`` call, edited argument by argument.

A value that already says what is asked is left alone; a different constant is replaced where it is
written (its quote style kept); a missing one is added after the last argument, on a line of its own
when the call spans lines. A value computed by Jinja (``materialized=var('m')``) is the user's
decision and is never overwritten: the edit is refused, naming it. With no call, one is added at the
top of the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jinja2
from jinja2 import nodes

from tools.column_lineage import ModelLineage
from tools.errors import InvalidArguments
from tools.sql_edit.jinja_text import JinjaFile, JinjaSpan, JinjaToken
from tools.sql_edit.result import EditResult, impact_of
from tools.sql_edit.text import EditRefused, Splice, apply_splices, line_indent, line_of, newline_of

ConfigValue = str | bool | Sequence[str]
_ENV = jinja2.Environment()
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UNSET = object()


@dataclass(frozen=True)
class _Argument:
    name: str | None
    tokens: tuple[JinjaToken, ...]

    @property
    def start(self) -> int:
        return self.tokens[0].start

    @property
    def end(self) -> int:
        return self.tokens[-1].start + len(self.tokens[-1].value)

    @property
    def value_tokens(self) -> tuple[JinjaToken, ...]:
        return self.tokens[2:] if self.name is not None else self.tokens


@dataclass(frozen=True)
class _Call:
    span: JinjaSpan
    open_paren: JinjaToken
    close_paren: JinjaToken
    arguments: tuple[_Argument, ...]
    #: a comma after the last argument
    trailing_comma: JinjaToken | None


def _parse_call(span: JinjaSpan) -> _Call:
    tokens = span.tokens
    depth = 0
    arguments: list[_Argument] = []
    current: list[JinjaToken] = []
    trailing: JinjaToken | None = None
    close: JinjaToken | None = None
    for token in tokens[2:]:
        if token.value in ("(", "[", "{"):
            depth += 1
        elif token.value in (")", "]", "}"):
            if depth == 0:
                close = token
                break
            depth -= 1
        if depth == 0 and token.value == ",":
            if current:
                arguments.append(_argument(current))
            current, trailing = [], token
            continue
        current.append(token)
        trailing = None
    if current:
        arguments.append(_argument(current))
        trailing = None
    if close is None or tokens[-1] is not close:
        raise EditRefused("the model's config() call is followed by more Jinja in the same {{ }}")
    return _Call(span, tokens[1], close, tuple(arguments), trailing)


def _argument(tokens: list[JinjaToken]) -> _Argument:
    if len(tokens) >= 3 and tokens[0].kind == "name" and tokens[1].value == "=":
        return _Argument(tokens[0].value, tuple(tokens))
    return _Argument(None, tuple(tokens))


def _constant(text: str) -> object:
    """The value of a Jinja literal, or ``_UNSET`` when it is computed."""
    try:
        template = _ENV.parse("{{ " + text + " }}")
        output = template.body[0]
        assert isinstance(output, nodes.Output)
        return output.nodes[0].as_const()
    except (jinja2.TemplateSyntaxError, nodes.Impossible, AssertionError, IndexError):
        return _UNSET


def config_argument(source: JinjaFile, name: str) -> str | None:
    """The expression the model's config() call gives ``name``, as written; None when it gives none."""
    for span in source.config_spans():
        for argument in _parse_call(span).arguments:
            if argument.name == name:
                return source.text[argument.value_tokens[0].start : argument.end]
    return None


def render_value(value: ConfigValue, quote: str = "'") -> str:
    """A Jinja literal for ``value``, strings in the file's quote style."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
        return f"{quote}{escaped}{quote}"
    return "[" + ", ".join(render_value(v, quote) for v in value) + "]"


def _same(current: object, wanted: ConfigValue) -> bool:
    if isinstance(wanted, str | bool):
        return current == wanted
    return isinstance(current, list | tuple) and list(current) == list(wanted)


def _quote_of(source: JinjaFile) -> str:
    for span in source.config_spans():
        for token in span.tokens:
            if token.kind == "string":
                return token.value[0]
    return "'"


def config_splices(source: JinjaFile, settings: Mapping[str, ConfigValue]) -> tuple[list[Splice], list[str]]:
    """The splices that bring the model's config() call to ``settings``, and what they change."""
    calls = source.config_spans()
    if len(calls) > 1:
        lines = ", ".join(str(line_of(source.text, s.start)) for s in calls)
        raise EditRefused(
            f"the model calls config() {len(calls)} times (lines {lines}), so which one decides is not clear",
            hint="merge them into one config() call, then make the edit again",
        )
    quote = _quote_of(source)
    if not calls:
        return [_new_call(source, settings, quote)], [
            f"{k}={render_value(v, quote)}" for k, v in settings.items()
        ]
    span = calls[0]
    source.refuse_inside_block(span.start, "the config() call")
    call = _parse_call(span)
    named = {a.name: a for a in call.arguments if a.name is not None}
    if any(a.name is None for a in call.arguments):
        raise EditRefused(
            f"the config() call at line {line_of(source.text, span.start)} passes arguments that are not "
            "name=value (a dict or **kwargs), so its settings cannot be edited one by one"
        )
    splices: list[Splice] = []
    changed: list[str] = []
    missing: list[tuple[str, ConfigValue]] = []
    for key, value in settings.items():
        argument = named.get(key)
        if argument is None:
            missing.append((key, value))
            continue
        values = argument.value_tokens
        written = source.text[values[0].start : argument.end]
        current = _constant(written)
        if current is _UNSET:
            raise EditRefused(
                f"{key} is set by an expression ({written.strip()}) in config() at line "
                f"{line_of(source.text, argument.start)}",
                hint=f"change {key} where that expression gets its value, or edit the config() call by hand",
            )
        if not _same(current, value):
            splices.append(Splice(values[0].start, argument.end, render_value(value, quote)))
            changed.append(f"{key}={render_value(value, quote)}")
    if missing:
        splices.append(_added_arguments(source, call, missing, quote))
        changed += [f"{k}={render_value(v, quote)}" for k, v in missing]
    return splices, changed


def _added_arguments(
    source: JinjaFile, call: _Call, missing: list[tuple[str, ConfigValue]], quote: str
) -> Splice:
    added = [f"{key}={render_value(value, quote)}" for key, value in missing]
    text = source.text
    if not call.arguments:
        at = call.open_paren.start + 1
        return Splice(at, at, ", ".join(added))
    last = call.arguments[-1]
    multiline = "\n" in text[call.open_paren.start : call.arguments[0].start] or any(
        "\n" in text[a.end : b.start] for a, b in zip(call.arguments, call.arguments[1:], strict=False)
    )
    if not multiline:
        at = call.trailing_comma.start + 1 if call.trailing_comma else last.end
        separator = " " if call.trailing_comma else ", "
        return Splice(at, at, separator + ", ".join(added) + ("," if call.trailing_comma else ""))
    newline = newline_of(text)
    indent = line_indent(text, last.start)
    if call.trailing_comma is not None:
        at = call.trailing_comma.start + 1
        return Splice(at, at, "".join(f"{newline}{indent}{a}," for a in added))
    return Splice(last.end, last.end, "".join(f",{newline}{indent}{a}" for a in added))


def _new_call(source: JinjaFile, settings: Mapping[str, ConfigValue], quote: str) -> Splice:
    newline = newline_of(source.text)
    arguments = [f"{key}={render_value(value, quote)}" for key, value in settings.items()]
    if len(arguments) == 1:
        block = f"{{{{ config({arguments[0]}) }}}}{newline}"
    else:
        # the layout codegen writes for new models (tools/codegen.py config_block)
        lines = f",{newline}".join(f"    {a}" for a in arguments)
        block = f"{{{{{newline}  config({newline}{lines}{newline}  ){newline}}}}}{newline}"
    gap = "" if source.text.startswith(("\n", "\r\n")) else newline
    return Splice(0, 0, block + gap)


def set_materialization(source: str, materialized: str, *, lineage: ModelLineage | None = None) -> EditResult:
    """The model's text with ``materialized`` in its config() call (added at the top when it has none).

    Only the Jinja is read, so this works on any model whose Jinja parses. Making a model incremental
    needs its filter too: that is ``make_incremental``'s job, and refused here unless the model
    already filters with ``is_incremental()``.
    """
    if not _NAME.fullmatch(materialized):
        raise InvalidArguments(
            f"materialization {materialized!r} is not a plain name", hint="e.g. view or table"
        )
    jinja = JinjaFile.read(source)
    if materialized == "incremental" and not any("is_incremental" in s.names() for s in jinja.spans):
        raise EditRefused(
            "an incremental model without an is_incremental() filter re-inserts every row on each run",
            hint="make it incremental with the edit that writes its filter and unique key too",
        )
    splices, changed = config_splices(jinja, {"materialized": materialized})
    if not splices:
        return EditResult(source, f"the model is already materialized as {materialized}; nothing to change")
    columns = lineage.graph.columns(lineage.unique_id) if lineage is not None else None
    return EditResult(
        apply_splices(source, splices),
        f"set {', '.join(changed)} in the model's config()",
        impact=impact_of(lineage, columns or []),
    )
