"""Split a CTE out of a model into a model of its own, referenced back by ``ref``.

The CTE keeps its name in the original model, its body becoming ``select * from {{ ref('new') }}``,
so nothing else in the model changes. The new model is the body as written (its Jinja kept), with the
``{% set %}`` statements it uses copied from the top of the file, and the model's ``config(enabled=...)``
when it has one (a disabled model must not leave an enabled part behind that refs what is disabled).

A CTE that reads other CTEs of the model: an *import* CTE (``select * from {{ ref('x') }}``, dbt's
style guide) is only a declaration, so it comes along into the new model, and leaves the original
when nothing else there uses it. A CTE holding logic is refused instead: copying it would make two
places to maintain, and moving it would break the other CTEs that read it. Extract it first.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from sqlglot import exp

from tools.sql_edit.columns import check_name, is_star_only
from tools.sql_edit.compiled import CompiledModel, Relations, from_and_joins
from tools.sql_edit.config_call import config_argument
from tools.sql_edit.jinja_text import JinjaSpan
from tools.sql_edit.model_source import ModelSource
from tools.sql_edit.result import ExtractResult
from tools.sql_edit.text import EditRefused, Splice, apply_splices, newline_of


def _tables(select: exp.Expr) -> set[str]:
    inner = {cte.alias.lower() for cte in select.find_all(exp.CTE)}
    return {t.name.lower() for t in select.find_all(exp.Table) if not t.db and t.name.lower() not in inner}


def _is_import(src: ModelSource, name: str) -> bool:
    select = src.ctes()[name].this
    items = from_and_joins(select)
    return (
        isinstance(select, exp.Select)
        and is_star_only(select)
        and len(items) == 1
        and isinstance(items[0], exp.Table)
        and items[0].name.lower() not in src.ctes()
        and not any(select.args.get(k) for k in ("where", "group", "having", "qualify", "limit", "order"))
    )


def _set_target(span: JinjaSpan) -> str | None:
    names = [t for t in span.tokens if t.kind == "name"]
    return (
        names[1].value
        if span.head == "set" and len(names) > 1 and any(t.value == "=" for t in span.tokens)
        else None
    )


def _sets_used(src: ModelSource, start: int, end: int) -> list[JinjaSpan]:
    """The file's ``{% set x = ... %}`` outside [start, end) that the Jinja inside it uses, in file order."""
    outside = {
        target: span
        for span in src.spans
        if not start <= span.start < end and (target := _set_target(span)) is not None
    }
    macros = {b.open.tokens[1].value for b in src.blocks if b.tag == "macro" and len(b.open.tokens) > 1}
    wanted: set[str] = set()
    todo = [name for span in src.spans if start <= span.start < end for name in span.names()]
    while todo:
        name = todo.pop()
        if name in macros:
            raise EditRefused(
                f"the CTE calls the macro {name}, defined in the model's file; move it to macros/ first"
            )
        if name in outside and name not in wanted:
            wanted.add(name)
            todo.extend(outside[name].names())
    return sorted((outside[n] for n in wanted), key=lambda s: s.start)


# Over 60 lines on purpose: each refusal, then the edit, over one parsed source; the refusals are
# read top to bottom as the list of what cannot be extracted.
def extract_cte(source: str, *, cte: str, new_model: str, dialect: str = "duckdb") -> ExtractResult:
    """The model with the CTE ``cte`` replaced by ``select * from {{ ref('new_model') }}``, and the text
    of ``new_model`` (see the module docstring for what comes along and what is refused)."""
    check_name(new_model, "model name")
    src = ModelSource.parse(source, dialect)
    ctes = src.ctes()
    name = cte.lower()
    if name not in ctes:
        raise EditRefused(f"the model has no CTE {cte!r} (its CTEs: {', '.join(ctes) or 'none'})")
    lparen, rparen = src.cte_parens(name)
    body_start, body_end = src.end_of(lparen), src.tokens[rparen].start
    for span in src.spans:
        if body_start <= span.start < body_end and span.names() & {"this", "is_incremental"}:
            raise EditRefused(
                f"the CTE {cte} uses {{{{ this }}}} (the model itself), which cannot move to another model"
            )
    reads = _tables(ctes[name].this) & set(ctes)
    if name in reads:
        raise EditRefused(f"the CTE {cte} is recursive")
    logic = sorted(r for r in reads if not _is_import(src, r))
    if logic:
        raise EditRefused(
            f"the CTE {cte} reads the CTE(s) {', '.join(logic)} of the same model, which hold logic of "
            "their own",
            hint=f"extract {', '.join(logic)} first, then {cte}",
        )
    imports = [r for r in ctes if r in reads]  # in the file's order
    newline = newline_of(source)
    body = source[body_start:body_end]
    core = body.strip()
    if imports and core[:4].lower() == "with":
        raise EditRefused(f"the CTE {cte} has a WITH of its own, so the CTEs it reads cannot join it")
    enabled = config_argument(src, "enabled")
    # a model disabled by its config must not leave an enabled part behind that refs it
    parts = [f"{{{{ config(enabled={enabled}) }}}}"] if enabled is not None else []
    parts += [source[s.start : s.end] for s in _sets_used(src, body_start, body_end)]
    if imports:
        texts = [
            source[ctes[i].args["alias"].this.meta["start"] : src.end_of(src.cte_parens(i)[1])]
            for i in imports
        ]
        parts.append("with " + f",{newline}{newline}".join(texts))
    parts.append(textwrap.dedent(body.strip("\r\n")).strip())
    new_text = f"{newline}{newline}".join(parts) + newline
    lead = body[: len(body) - len(body.lstrip())]
    tail = body[len(body.rstrip()) :]
    splices = [Splice(body_start, body_end, f"{lead}select * from {{{{ ref('{new_model}') }}}}{tail}")]
    moved = []
    for imported in imports:
        if not _used_elsewhere(src, imported, name):
            splices.append(_remove_cte(src, imported))
            moved.append(imported)
    text = apply_splices(source, splices)
    ModelSource.parse(text, dialect, what="the edited model")
    ModelSource.parse(new_text, dialect, what=f"the new model {new_model}")
    along = f", with the import CTE(s) {', '.join(imports)}" if imports else ""
    description = (
        f"extract the CTE {cte} into the model {new_model}{along}; {cte} now selects from ref('{new_model}')"
    )
    warnings = tuple(f"the CTE {m} is no longer used by the model and moved with {cte}" for m in moved)
    if enabled is not None:
        warnings += (f"{new_model} takes enabled={enabled} from the model's config()",)
    return ExtractResult(text, new_model, new_text, description, warnings)


def _used_elsewhere(src: ModelSource, cte: str, extracted: str) -> bool:
    uses = [n for n, c in src.ctes().items() if n not in (cte, extracted) and cte in _tables(c.this)]
    outer = src.tree.copy()
    outer.set("with_", None)
    return bool(uses) or cte in _tables(outer)


def _remove_cte(src: ModelSource, cte: str) -> Splice:
    """Cut ``name as (...),`` up to the next CTE's name, so the WITH list stays well formed."""
    names = list(src.ctes())
    start = src.ctes()[cte].args["alias"].this.meta["start"]
    following = names[names.index(cte) + 1]
    return Splice(start, src.ctes()[following].args["alias"].this.meta["start"], "")


@dataclass(frozen=True)
class CteOutput:
    """What a CTE outputs, from the compiled SQL (a Jinja loop's columns written out)."""

    columns: tuple[str, ...]
    #: the one column the CTE groups by, when it outputs it: one row per value (its grain)
    grain: str | None


def cte_output(compiled: str, *, cte: str, relations: Relations, dialect: str = "duckdb") -> CteOutput:
    """The columns of the model's CTE ``cte`` and its grain, as the model compiles: what a model
    extracted from it (``extract_cte``) will output. ``relations``: the columns of what it reads."""
    model = CompiledModel.parse(compiled, relations, dialect)
    scope = model.named().get(cte.lower())
    if scope is None:
        raise EditRefused(f"the compiled model has no CTE {cte!r}")
    columns = tuple(model.outputs(scope))
    group = scope.expression.args.get("group")
    keys = group.expressions if group is not None else []
    grain = None
    if len(keys) == 1 and isinstance(keys[0], exp.Column):
        for column in columns:
            item = model.item(scope, column)
            value = item.unalias() if item is not None else None
            if isinstance(value, exp.Column) and value.name.lower() == keys[0].name.lower():
                grain = column
                break
    return CteOutput(columns, grain)
