"""What a finished run teaches: its models, the conventions they follow, the failures it repaired.

Written at the end of every run that reached an end. A run that failed (and so rolled back) teaches
only its failure: its models are not in the project, so remembering them would mislead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from agent.commands.naming import model_type_of
from agent.memory.relevance import environment_fault
from graph.plan_spec import Feedback
from tools.layers import layer_of
from tools.memory.store import Memory, ProjectMemory

_PREFIXES = ("stg_", "int_", "fct_", "dim_")
_MAX_TEXT = 600
#: the newest remembered models an undo looks through to teach a convention again
UNLEARN_SCAN = 500


def _tests_of(manifest: Mapping[str, Any], uid: str) -> list[str]:
    return sorted(
        f"{(node.get('test_metadata') or {}).get('name')}({node.get('column_name') or ''})"
        for node in (manifest.get("nodes") or {}).values()
        if node.get("resource_type") == "test"
        and node.get("attached_node") == uid
        and node.get("test_metadata")
    )


def _learn_model(
    memory: ProjectMemory, manifest: Mapping[str, Any], node: Mapping[str, Any], run_id: str
) -> None:
    config = node.get("config") or {}
    path = str(node.get("original_file_path", ""))
    layer = layer_of(node)
    data = {
        "name": node["name"],
        "path": path,
        "layer": layer,
        "materialized": config.get("materialized"),
        "unique_key": config.get("unique_key"),
        "incremental_strategy": config.get("incremental_strategy"),
        "tests": _tests_of(manifest, str(node.get("unique_id"))),
        "run_id": run_id,
    }
    keys = f", unique_key {data['unique_key']}" if data["unique_key"] else ""
    tests = f"; tests {', '.join(data['tests'])}" if data["tests"] else ""
    text = f"model {node['name']} ({layer}, {data['materialized']}{keys}) at {path}{tests}"
    memory.remember("models", str(node["name"]), text, data)
    _learn_conventions(memory, str(node["name"]), layer, path, run_id)


def _learn_conventions(memory: ProjectMemory, name: str, layer: str, path: str, run_id: str) -> None:
    """The folder this layer's models went to, and the prefix of the model's kind."""
    if layer == "other":
        return
    _teach_folder(memory, layer, path, run_id)
    _teach_prefix(memory, name, run_id)


def _teach_folder(memory: ProjectMemory, layer: str, path: str, run_id: str) -> None:
    folder = str(PurePosixPath(path).parent)
    memory.remember(
        "conventions",
        f"folder:{layer}",
        f"new {layer} models go in {folder}/",
        {"layer": layer, "folder": folder, "run_id": run_id},
    )


def _prefix_of(name: str) -> str | None:
    return next((p for p in _PREFIXES if name.startswith(p)), None)


def _teach_prefix(memory: ProjectMemory, name: str, run_id: str) -> None:
    prefix = _prefix_of(name)
    if prefix:
        kind = model_type_of(name)
        memory.remember(
            "conventions",
            f"prefix:{kind}",
            f"{kind} models are named {prefix}<name>",
            {"model_type": kind, "prefix": prefix, "run_id": run_id},
        )


def _learn_failure(memory: ProjectMemory, state: Mapping[str, Any], run_id: str) -> None:
    """The first failure of the run, and what the run did about it (its final plan, when it succeeded)."""
    first = Feedback.model_validate(state["feedback"][0])
    error = first.render()[:_MAX_TEXT]
    fixed = state.get("status") == "success"
    fix = str((state.get("plan") or {}).get("summary", "")) if fixed else ""
    outcome = f"fixed by: {fix}" if fixed else "not fixed: the run rolled back"
    text = f"request {state.get('request', '')!r} -> {error} -> {outcome}"
    memory.remember(
        "failures",
        run_id,
        text,
        {
            "phase": first.phase,
            "request": state.get("request"),
            "error": error,
            "fix": fix,
            "fixed": fixed,
            "diff": str(state.get("diff", ""))[:4000],
        },
    )


def _environment_caused(state: Mapping[str, Any]) -> bool:
    """Whether the run's first failure, or how it ended, was the environment's fault (relevance.py)."""
    first = Feedback.model_validate(state["feedback"][0]).render()
    return any(environment_fault(str(text)) for text in (first, state.get("reason") or ""))


def learn_from_run(
    memory: ProjectMemory, state: Mapping[str, Any], manifest: Mapping[str, Any], run_id: str
) -> None:
    """Write what the run in ``state`` (its final graph state) teaches; ``manifest`` is the project now.
    A failure the environment caused (a missing or empty warehouse, a lock, ...) teaches nothing."""
    if state.get("feedback") and not _environment_caused(state):
        _learn_failure(memory, state, run_id)
    if state.get("status") != "success":
        return
    nodes = manifest.get("nodes") or {}
    changed = dict.fromkeys([*state.get("created_nodes", []), *state.get("build_nodes", [])])
    for uid in changed:
        node = nodes.get(uid)
        if node and node.get("resource_type") == "model":
            _learn_model(memory, manifest, node, run_id)


def unlearn_run(memory: ProjectMemory, run_id: str) -> int:
    """Forget what run ``run_id`` taught, once it is undone: its failure, the models it remembered
    (unless a later run remembered them since), and the conventions it set, which are taught again by
    the newest model still remembered for them, or forgotten. Returns how many memories went."""
    gone = memory.forget("failures", run_id)
    for model in memory.items("models", {"run_id": run_id}):
        gone += memory.forget("models", model.key)
    remaining = [m for m in memory.items("models", limit=UNLEARN_SCAN) if m.data.get("run_id") != run_id]
    for convention in memory.items("conventions", {"run_id": run_id}):
        if not _teach_again(memory, convention.key, remaining):
            gone += memory.forget("conventions", convention.key)
    return gone


def _teach_again(memory: ProjectMemory, key: str, models: list[Memory]) -> bool:
    """Write convention ``key`` from the newest of ``models`` that follows one; False when none does."""
    what, _, value = key.partition(":")
    for model in models:  # newest first
        name, path, run_id = (str(model.data.get(k) or "") for k in ("name", "path", "run_id"))
        if what == "folder" and model.data.get("layer") == value and path:
            _teach_folder(memory, value, path, run_id)
            return True
        if what == "prefix" and _prefix_of(name) and model_type_of(name) == value:
            _teach_prefix(memory, name, run_id)
            return True
    return False
