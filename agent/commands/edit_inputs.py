"""What an in-place edit of a model reads, for the /commands: the project compiled around the model,
read through tools/compiled_project.py (as the planner's edit tools read it), with refusals that name
the commands to run.

One read-only ``dbt compile --select @<model>`` (the model, everything built from it, and everything
those read) gives the compiled SQL of every file an edit or a rename can touch, and parses the
project on the way, so no ``dbt parse`` goes before it.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.commands.existing import Existing, find_existing, refuse_package
from agent.commands.naming import is_identifier
from agent.commands.project import ProjectView
from tools.compiled_project import CompiledProject, Hints
from tools.errors import EmptySelection, InvalidArguments, UnknownNode
from tools.layers import model_type_of
from tools.manifest import Node, close_matches

#: what a refusal of tools/compiled_project tells a /command's user to do
COMMAND_HINTS = Hints(
    unbuilt_parent="build it first: /dbt-run --select {name}",
    fix_compile="check that it compiles: /dbt-compile --select {model}",
    unbuilt_driver="build it first: /dbt-run --select +{name}",
    add_column="/model-edit --name {model} --add-column {parent}.{column}",
)


def checked_model_name(name: str, flag: str = "--name") -> str:
    if not is_identifier(name):
        raise InvalidArguments(
            f"{flag} {name!r} is not a model name (lower case letters, digits and _)",
            hint="e.g. orders, stg_payments, fct_orders",
        )
    return name


def compile_around(view: ProjectView, selector: str) -> None:
    """The view's project compiled for ``selector`` (its manifest from now on); left parsed only when
    ``selector`` selects nothing, so the caller names what is missing from the parse."""
    try:
        view.compile(selector)
    except EmptySelection:
        return


def compiled_project(view: ProjectView) -> CompiledProject:
    """The view's manifest (compiled by ``compile_around``, else parsed) as the edits read it."""
    return CompiledProject.of(view.tools, view.manifest, COMMAND_HINTS)


@dataclass
class EditInputs:
    """The model an edit changes, in its project compiled around it."""

    view: ProjectView
    project: CompiledProject
    node: Node

    @classmethod
    def for_model(cls, view: ProjectView, name: str, command: str) -> EditInputs:
        """The project's own model ``name``, compiled with what it reads and what reads it; refused
        (nothing written) for a package's model, a YAML-only declaration, or no model at all."""
        checked_model_name(name)
        compile_around(view, f"@{name}")
        existing = find_existing(view, name)
        if existing is None:
            raise _no_model(view, name, command)
        if existing.kind == "package":
            raise refuse_package(existing)
        if existing.kind == "declared" or existing.node is None:
            raise _declared_only(existing, command)
        node = existing.node
        if node.language != "sql":
            raise InvalidArguments(f"{name} is a {node.language} model; {command} edits SQL models only")
        return cls(view, compiled_project(view), node)

    def readers(self) -> str:
        """The models and exposures that read the model directly, for an edit that changes none of
        its existing columns (so column lineage has nothing to follow)."""
        manifest = self.project.manifest
        children = [manifest.get(uid) for uid in manifest.children(self.node.unique_id)]
        names = sorted(
            f"{c.resource_type} {c.label}" for c in children if c is not None and c.resource_type != "test"
        )
        return ", ".join(names) or "nothing"


def _no_model(view: ProjectView, name: str, command: str) -> UnknownNode:
    models = [m.name for m in view.manifest.of_type("model")]
    create = f"/dbt-model --name {name} --type {model_type_of(name)}"
    return UnknownNode(
        f"no model named {name!r} in the project{close_matches(name, models)}",
        hint=f"{command} edits a model that exists; to create one: {create}",
    )


def _declared_only(existing: Existing, command: str) -> InvalidArguments:
    return InvalidArguments(
        f"{existing.name} is declared in {existing.path} but has no SQL yet, so {command} has nothing "
        "to edit; nothing was written or built",
        hint=f"build it to its declaration first: /dbt-model --name {existing.name} "
        f"--type {model_type_of(existing.name)} --from PARENT",
    )
