"""What already exists under a model's name: its SQL file, an installed package's model, or only a
declaration in YAML (columns, description, tests) waiting for its SQL.

A /command that names a model never writes its SQL over what is there: it edits in place when it is
an edit, builds a YAML-only model to its declaration, and otherwise refuses naming the file and the
command that edits it. dbt's manifest has no node for a model declared only in YAML (it warns that
the patch matches nothing), so declarations are read from the project's own YAML files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from agent.commands.project import ProjectView
from tools.errors import InvalidArguments, UnknownNode
from tools.manifest import Node
from tools.properties_files import ReadText, declarations, properties_files

#: what to use instead of /dbt-model on a model that exists (one line each)
EDIT_COMMANDS = (
    "/model-edit --name {name} --add-column PARENT.COLUMN [--as NAME]",
    "/model-edit --name {name} --rename-column OLD:NEW",
    "/model-edit --name {name} --materialized view|table",
    "/model-edit --name {name} --extract CTE --as int_NAME",
    "/incremental-model --name {name} --unique-key KEY",
)


@dataclass(frozen=True)
class Existing:
    name: str
    #: sql: the project's own model; package: an installed package's; declared: YAML without SQL
    kind: Literal["sql", "package", "declared"]
    #: the SQL file (a package's: relative to its package), or the YAML that declares the model
    path: str
    node: Node | None = None
    #: declared: its entry in that YAML, as written
    entry: Mapping[str, Any] | None = None

    def edit_commands(self) -> str:
        return "; ".join(line.format(name=self.name) for line in EDIT_COMMANDS)


def _read(view: ProjectView) -> ReadText:
    return lambda path: view.read_text(view.tools.changeset, path)


def project_yaml_files(view: ProjectView) -> list[str]:
    """The project's own properties files, relative to the root (tools/properties_files.py)."""
    return properties_files(view.root, _read(view))


def find_existing(view: ProjectView, name: str) -> Existing | None:
    """What exists under the model name ``name``, or None when nothing does."""
    try:
        node = view.manifest.find_model(name)
    except UnknownNode:
        node = None
    if node is not None:
        kind: Literal["sql", "package"] = "package" if node.is_package else "sql"
        return Existing(name, kind, node.original_file_path, node=node)
    declared = declarations(project_yaml_files(view), _read(view), name)
    if len(declared) > 1:
        raise InvalidArguments(
            f"model {name} is declared in YAML more than once ({', '.join(p for p, _ in declared)}), and "
            "dbt refuses two declarations of one model",
            hint="keep one declaration, then run the command again",
        )
    if declared:
        path, entry = declared[0]
        return Existing(name, "declared", path, entry=entry)
    return None


def refuse_package(existing: Existing) -> InvalidArguments:
    node = existing.node
    package = node.package_name if node is not None else "?"
    return InvalidArguments(
        f"{existing.name} is a model of the installed package {package} ({existing.path} in the package): "
        "ae reads a package's models but never edits or replaces them; nothing was written or built",
        hint=f"build your own model on it: /dbt-model --name <name> --type <type> --from {existing.name}",
    )


def refuse_regenerate(existing: Existing, command: str) -> InvalidArguments:
    """``command`` would write a new SQL file over the model ``existing``: the refusal (exit 2)."""
    if existing.kind == "package":
        return refuse_package(existing)
    return InvalidArguments(
        f"{existing.name} already exists ({existing.path}); {command} creates models and never replaces "
        "one, so nothing was written or built",
        hint=f"edit it in place: {existing.edit_commands()}",
    )
