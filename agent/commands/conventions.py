"""How this project lays out its models, read before anything is written so new files follow it.

Real projects differ from ae's own defaults: marts at the ``models/`` root, one
``schema.yml`` per folder instead of one YAML per model, materializations set per folder in
``dbt_project.yml``. A generated model goes where the project keeps that layer, is documented in the
file the project uses for that folder, and repeats no config the project already gives it. ae's own
layout (``models/<layer>/<name>.sql`` + ``<name>.yml``) is only the fallback for a project that shows
no habit yet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from tools.layers import DEFAULT_FOLDERS, Layer
from tools.manifest import Node


def _folder(node: Node) -> str:
    return str(PurePosixPath(node.original_file_path).parent)


def _source_of(node: Node) -> str | None:
    """The one source a model reads (None: it reads a seed, several sources or none)."""
    names = {uid.split(".")[2] for uid in node.depends_on if uid.startswith("source.")}
    return names.pop() if len(names) == 1 else None


def _shared_files(documented: Iterable[tuple[Node, str]]) -> list[str]:
    """The properties files (one per model documented) that are a folder's shared file: documenting
    several models, or one they are not named after (``schema.yml`` with a single entry so far)."""
    pairs = list(documented)
    counts = Counter(path for _, path in pairs)
    return [path for node, path in pairs if counts[path] > 1 or PurePosixPath(path).stem != node.name]


def _file_name_for(shared: str, folder: str) -> str:
    """The shared file's name for another folder: ``_staging.yml`` in models/staging is
    ``_marts.yml`` in models/marts; a name without its folder's (``schema.yml``) stays as it is."""
    path = PurePosixPath(shared)
    own, other = path.parent.name, PurePosixPath(folder).name
    return path.name.replace(own, other, 1) if own and own in path.stem else path.name


def _most_common(values: Iterable[str]) -> str | None:
    counted = Counter(values).most_common()
    # ties go to the alphabetically first, so the choice does not depend on manifest order
    return min((v for v, n in counted if n == counted[0][1]), default=None) if counted else None


@dataclass(frozen=True)
class Conventions:
    """The project's habits, read from its parsed models and ``dbt_project.yml``."""

    models: tuple[Node, ...]
    #: the ``models:`` block of dbt_project.yml for this project (folder -> config, nested)
    project_models_config: Mapping[str, Any]
    #: layer -> folder remembered from earlier runs (agent/memory): followed where the project shows no
    #: model of that layer now, before ae's defaults
    remembered_folders: Mapping[Layer, str] = field(default_factory=dict)

    @classmethod
    def read(
        cls,
        models: Iterable[Node],
        dbt_project: Mapping[str, Any],
        project_name: str,
        remembered_folders: Mapping[Layer, str] | None = None,
    ) -> Conventions:
        block = (dbt_project.get("models") or {}).get(project_name) or {}
        return cls(tuple(models), block if isinstance(block, Mapping) else {}, dict(remembered_folders or {}))

    # --- where files go -----------------------------------------------------------------------------

    def folder_for(self, layer: Layer) -> str:
        """Where the project keeps models of ``layer``; for marts, where its non-staging models live
        when it has no recognisable marts (jaffle_shop keeps customers.sql at the models/ root).
        A folder remembered from earlier runs comes before those guesses."""
        own = [_folder(n) for n in self.models if n.layer == layer]
        if layer == "staging":
            own = [f for f in own if PurePosixPath(f).name != "base"]
        if not own and layer in self.remembered_folders:
            return self.remembered_folders[layer]
        if not own and layer == "marts":
            own = [_folder(n) for n in self.models if n.layer == "other"]
        return _most_common(own) or DEFAULT_FOLDERS[layer]

    def staging_folder_for(self, source_name: str | None) -> str:
        """Where a new staging model over a table of ``source_name`` goes (None: it stages a seed).

        dbt Labs keeps one folder per source under staging (``models/staging/<source>/``), which
        dbt-project-evaluator checks (fct_model_directories); a project whose staging models sit in
        one shared folder (jaffle_shop's, over seeds or sources) keeps that habit instead. A seed has
        no source, so its staging model goes to the staging root.
        """
        own = [n for n in self.models if n.layer == "staging" and PurePosixPath(_folder(n)).name != "base"]
        staged = [(folder, source) for n in own if (source := _source_of(n)) and (folder := _folder(n))]
        per_source = [folder for folder, source in staged if PurePosixPath(folder).name == source]
        shared = [folder for folder, source in staged if PurePosixPath(folder).name != source]
        if not per_source and own:
            # no model sits in a folder named after its source: the project's one staging folder
            shared = [_folder(n) for n in own]
        if len(shared) > len(per_source):
            return _most_common(shared) or DEFAULT_FOLDERS["staging"]
        root = _most_common(str(PurePosixPath(f).parent) for f in per_source) or self.folder_for("staging")
        return f"{root}/{source_name}" if source_name else root

    def properties_file_for(self, folder: str, name: str) -> str:
        """The YAML that should document a new model ``name`` in ``folder``.

        A file there that documents several models, or a model it is not named after
        (``schema.yml``, ``_models.yml``), is the folder's shared file; models each with their own
        ``<model>.yml`` mean one file per model; a folder with no documented model follows the
        project's majority habit (a shared file named after its folder, ``_staging.yml``, is named
        after this one: ``_marts.yml``).
        """
        documented = [(n, p) for n in self.models if (p := n.patch_path)]
        here = [(n, p) for n, p in documented if _folder(n) == folder]
        shared = _shared_files(here)
        if shared:
            return _most_common(shared) or shared[0]
        if here:
            return f"{folder}/{name}.yml"
        everywhere = _shared_files(documented)
        single = len({p for _, p in documented}) - len(set(everywhere))
        if everywhere and len(set(everywhere)) >= single:
            return f"{folder}/{_file_name_for(_most_common(everywhere) or everywhere[0], folder)}"
        return f"{folder}/{name}.yml"

    # --- configs dbt_project.yml already sets ---------------------------------------------------------

    def configured_materializations(self) -> dict[str, str]:
        """Every folder (relative to the model path, "" for its root) dbt_project.yml gives a
        materialization, with that materialization."""
        found: dict[str, str] = {}
        levels: list[tuple[str, Mapping[str, Any]]] = [("", self.project_models_config)]
        while levels:
            folder, level = levels.pop()
            value = level.get("+materialized", level.get("materialized"))
            if isinstance(value, str):
                found[folder] = value
            levels += [
                (f"{folder}/{key}".strip("/"), nested)
                for key, nested in level.items()
                if isinstance(nested, Mapping) and not str(key).startswith("+")
            ]
        return found

    def configured_materialization(self, sql_path: str, model_paths: Iterable[str]) -> str | None:
        """The materialization dbt_project.yml gives a model at ``sql_path``, None when it sets none.

        dbt applies the ``models: <project>:`` block by folder, the deepest setting winning; keys
        starting with ``+`` are configs, and so is ``materialized`` without it.
        """
        parts = PurePosixPath(sql_path).parts
        for root in model_paths:
            root_parts = PurePosixPath(root.strip("/")).parts
            if parts[: len(root_parts)] == root_parts:
                parts = parts[len(root_parts) :]
                break
        found: str | None = None
        level: Mapping[str, Any] = self.project_models_config
        for folder in ("", *parts[:-1]):
            if folder:
                nested = level.get(folder)
                if not isinstance(nested, Mapping):
                    break
                level = nested
            value = level.get("+materialized", level.get("materialized"))
            if isinstance(value, str):
                found = value
        return found
