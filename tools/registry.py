"""One registry of typed tool functions: their schemas, who may call them, and how a call runs.

A tool is a plain function ``fn(ctx: ToolContext, arg: T = default, ...)`` decorated with
``@tool(read_only=..., family=...)``. Its input schema comes from the signature (types, defaults,
``Annotated`` constraints); what the model reads about it — the description and each argument's —
comes from one place, ``prompts/tools/<name>.md`` (tools.prompt_text). Every parameter must be
described there and nothing else, so no schema reaches the model half-explained or stale. The
docstring is for developers.

``invoke`` is the only way a phase runs a tool. It validates the arguments, runs the function under
the resilience policy for the tool's family, logs and records the call, and sorts errors by channel:
model-fixable faults and transient faults that outlived their retries come back as ``ok=False``
outcomes the model can react to; raise-channel faults (including an open circuit) and programmer
errors propagate.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic_core import to_jsonable_python

from tools.context import ToolCallRecord, ToolContext
from tools.errors import Channel, InvalidArguments, channel_of
from tools.journal import os_fault
from tools.logs import get_logger
from tools.prompt_text import ToolText, tool_text

log = get_logger("ae.tools")

F = TypeVar("F", bound=Callable[..., Any])

#: modules whose import registers the built-in tools; add a module here when it defines tools
BUILTIN_TOOL_MODULES: tuple[str, ...] = (
    "tools.file_tools",
    "tools.edit_tools",
    "tools.dbt_tools",
    "tools.warehouse_tools",
    "tools.memory_tools",
)

# Errors on these channels are handed back to the model as a failed tool call instead of raised.
_RETURNED_CHANNELS = frozenset({Channel.MODEL, Channel.RETRY})


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    read_only: bool
    family: str
    input_schema: dict[str, Any]
    fn: Callable[..., Any]
    input_model: type[BaseModel]


class ToolOutcome(BaseModel):
    """The result of one tool call as the calling loop sees it."""

    name: str
    ok: bool
    #: the function's return value made JSON-able (pydantic models dumped)
    output: Any = None
    error: str | None = None
    #: the error's channel ("model", "retry", "raise"); None on success or for programmer errors
    channel: str | None = None
    duration_s: float
    retries: int = 0

    @classmethod
    def of(cls, record: ToolCallRecord, output: Any = None) -> ToolOutcome:
        shared = record.model_dump(include={"name", "ok", "error", "channel", "duration_s", "retries"})
        return cls(output=output, **shared)


def is_read_only(spec: ToolSpec) -> bool:
    """An ``allowed`` predicate for phases that may only explore (e.g. Plan's read-only tools)."""
    return spec.read_only


class ToolRegistry:
    def __init__(self, texts: Callable[[str], ToolText] = tool_text) -> None:
        """``texts``: where the model's text of a tool comes from, by tool name."""
        self._specs: dict[str, ToolSpec] = {}
        self._texts = texts

    def tool(self, *, read_only: bool, family: str, name: str | None = None) -> Callable[[F], F]:
        """Register the decorated function as a tool and return it unchanged."""

        def register(fn: F) -> F:
            tool_name = name or fn.__name__
            spec = build_spec(
                fn, read_only=read_only, family=family, name=tool_name, text=self._texts(tool_name)
            )
            self.register(spec)
            return fn

        return register

    def register(self, spec: ToolSpec) -> None:
        if spec.name in self._specs:
            raise ValueError(
                f"a tool named {spec.name!r} is already registered "
                f"(by {self._specs[spec.name].fn.__module__}); tool names must be unique"
            )
        self._specs[spec.name] = spec

    def get(self, name: str) -> ToolSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise InvalidArguments(
                f"there is no tool named {name!r}; known tools: {', '.join(sorted(self._specs))}"
            ) from None

    def all(self, allowed: Callable[[ToolSpec], bool] | None = None) -> list[ToolSpec]:
        return [spec for spec in self._specs.values() if allowed is None or allowed(spec)]

    def names(self) -> list[str]:
        return sorted(self._specs)

    def invoke(
        self,
        ctx: ToolContext,
        name: str,
        arguments: Mapping[str, Any] | None,
        *,
        allowed: Callable[[ToolSpec], bool] | None = None,
    ) -> ToolOutcome:
        """Run one tool call; see the module docstring for which errors return and which raise."""
        arguments = dict(arguments or {})
        try:
            with ctx.recorded(name, arguments) as call:
                output = self._run(ctx, name, arguments, allowed)
        except Exception as exc:
            if channel_of(exc) in _RETURNED_CHANNELS:
                return ToolOutcome.of(call.record)
            raise
        return ToolOutcome.of(call.record, output)

    def _run(
        self,
        ctx: ToolContext,
        name: str,
        arguments: dict[str, Any],
        allowed: Callable[[ToolSpec], bool] | None,
    ) -> Any:
        if allowed is not None and not (name in self._specs and allowed(self._specs[name])):
            # only what this phase may call: naming the others would invite calls it refuses
            permitted = ", ".join(s.name for s in self.all(allowed))
            refusal = "is not allowed in this phase" if name in self._specs else "does not exist"
            raise InvalidArguments(f"tool {name!r} {refusal}; allowed here: {permitted or 'none'}")
        spec = self.get(name)
        try:
            validated = spec.input_model.model_validate(arguments)
        except ValidationError as exc:
            raise InvalidArguments(_describe_validation_error(spec, exc)) from None
        # getattr, not model_dump: nested pydantic arguments reach the function as models.
        kwargs = {field: getattr(validated, field) for field in type(validated).model_fields}
        result = ctx.policy.call(spec.family, ctx.target, lambda: _call(spec, ctx, kwargs), op=name)
        return to_jsonable_python(result)


def _call(spec: ToolSpec, ctx: ToolContext, kwargs: dict[str, Any]) -> Any:
    try:
        return spec.fn(ctx, **kwargs)
    except OSError as exc:
        # a path the OS refuses (300 characters) is the model's to fix; a full disk is not
        raise os_fault(exc) from exc


# --- the process-wide registry -----------------------------------------------------------------

REGISTRY = ToolRegistry()
tool = REGISTRY.tool


def load_builtin_tools() -> None:
    """Import the modules that define tools (idempotent: a module registers once, on first import)."""
    for module in BUILTIN_TOOL_MODULES:
        importlib.import_module(module)


def builtin_registry() -> ToolRegistry:
    """The process-wide registry with ae's built-in tools registered."""
    load_builtin_tools()
    return REGISTRY


def all_tools(allowed: Callable[[ToolSpec], bool] | None = None) -> list[ToolSpec]:
    return builtin_registry().all(allowed)


def invoke(
    ctx: ToolContext,
    name: str,
    arguments: Mapping[str, Any] | None,
    *,
    allowed: Callable[[ToolSpec], bool] | None = None,
) -> ToolOutcome:
    return builtin_registry().invoke(ctx, name, arguments, allowed=allowed)


# --- building a spec from a function -----------------------------------------------------------


def build_spec(
    fn: Callable[..., Any], *, read_only: bool, family: str, text: ToolText, name: str | None = None
) -> ToolSpec:
    """Derive a ToolSpec from a typed function and its text; a malformed tool is a TypeError at
    import time."""
    tool_name = name or fn.__name__
    where = f"tool {tool_name!r} ({fn.__module__})"
    try:
        signature = inspect.signature(fn, eval_str=True)
    except NameError as exc:
        raise TypeError(
            f"{where}: cannot resolve its annotations ({exc}); import the types at runtime, "
            "not only under TYPE_CHECKING"
        ) from exc
    params = list(signature.parameters.values())
    if not params or params[0].name != "ctx":
        raise TypeError(f"{where}: the first parameter must be `ctx: ToolContext`")
    description, arg_docs = text.description, text.arguments
    if not description:
        raise TypeError(f"{where}: needs a description for the model in prompts/tools/{tool_name}.md")

    fields: dict[str, Any] = {}
    for param in params[1:]:
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            raise TypeError(f"{where}: parameter {param.name!r} must be a plain named parameter")
        if param.annotation is param.empty:
            raise TypeError(f"{where}: parameter {param.name!r} needs a type annotation")
        if not arg_docs.get(param.name):
            raise TypeError(
                f"{where}: parameter {param.name!r} needs a '- {param.name}: ...' line in the "
                f"Arguments: section of prompts/tools/{tool_name}.md"
            )
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (param.annotation, Field(default, description=arg_docs[param.name]))
    stale = sorted(set(arg_docs) - set(fields))
    if stale:
        raise TypeError(
            f"{where}: prompts/tools/{tool_name}.md describes arguments it does not have: {stale}"
        )

    input_model: type[BaseModel] = create_model(
        f"{_camel(tool_name)}Arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    return ToolSpec(
        name=tool_name,
        description=description,
        read_only=read_only,
        family=family,
        input_schema=_tidy_schema(input_model.model_json_schema()),
        fn=fn,
        input_model=input_model,
    )


def _describe_validation_error(spec: ToolSpec, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(part) for part in error["loc"]) or "(arguments)"
        detail = error["msg"]
        if error["type"] != "missing":
            detail += f" (got {_short(repr(error['input']))})"
        problems.append(f"{field}: {detail}")
    required = set(spec.input_schema.get("required", []))
    expected = ", ".join(
        f"{field} (required)" if field in required else field for field in spec.input_schema["properties"]
    )
    return (
        f"invalid arguments for tool {spec.name!r}: {'; '.join(problems)}. "
        f"Its parameters are: {expected or 'none'}"
    )


def _tidy_schema(schema: dict[str, Any]) -> dict[str, Any]:
    # pydantic titles repeat the names; dropping them saves the model tokens and nothing else.
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
