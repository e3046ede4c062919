"""Which files the planner's file tools may not write as a whole: the project's existing models, and
anything of an installed package.

An existing model is changed in place, where a reviewer can see each change (``edit_file``'s exact
text, or the edit tools of tools/edit_tools.py, which keep every byte they do not change), never
regenerated wholesale by ``write_file``. A model is a ``.sql`` file on disk under the project's
``model-paths`` (or one the last parsed manifest names as a model). A package's files belong to
``dbt deps``: ae reads its models as parents and never edits them.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from tools.errors import ConfigurationError, InvalidArguments
from tools.installed_packages import install_dir_of
from tools.jinja_inspect import model_paths
from tools.manifest import Manifest

#: the tools that change an existing model in place, named in refusals
EDIT_TOOLS = (
    "make_model_incremental",
    "add_model_column",
    "rename_model_column",
    "set_model_materialization",
    "extract_model_cte",
)


class ModelRewriteRefused(InvalidArguments):
    hint = f"change it with edit_file (an exact piece of text) or one of {', '.join(EDIT_TOOLS)}"


def refuse_package_file(root: Path, rel: str) -> None:
    """Refuse a change to a file in the installed packages' folder."""
    folder = install_dir_of(root)
    if folder and PurePosixPath(rel).is_relative_to(folder):
        raise InvalidArguments(
            f"{rel} belongs to an installed package ({folder}/ is written by dbt deps): ae reads a "
            "package's models but never edits them",
            hint="build a model of your own on the package's model (ref it) and change that one",
        )


def refuse_model_rewrite(root: Path, rel: str, target_path: str | None) -> None:
    """Refuse replacing the whole text of an existing model (or any file of a package)."""
    refuse_package_file(root, rel)
    if PurePosixPath(rel).suffix != ".sql" or not (root / rel).is_file():
        return  # a new file, or not a model
    project_yml = root / "dbt_project.yml"
    yml = project_yml.read_text(encoding="utf-8", errors="replace") if project_yml.is_file() else None
    under_models = any(PurePosixPath(rel).is_relative_to(folder) for folder in model_paths(yml))
    if not under_models and not _manifest_names_model(root, rel, target_path):
        return
    raise ModelRewriteRefused(
        f"{rel} is an existing model: write_file would replace the whole of it unseen, so it is refused"
    )


def _manifest_names_model(root: Path, rel: str, target_path: str | None) -> bool:
    """Whether the last parsed manifest has a model of the project at ``rel`` (model-paths that the
    dbt_project.yml on disk does not say plainly)."""
    try:
        manifest = Manifest.load(root, target_path, missing_ok=True)
    except ConfigurationError:
        return False  # a damaged manifest names nothing; dbt parse rewrites it
    return any(node.original_file_path == rel for node in manifest.of_type("model", packages=False))
