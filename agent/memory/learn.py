"""What a finished run teaches: its models, the conventions they follow, the failures it repaired.

Written at the end of every run that reached an end. A run that failed (and so rolled back) teaches
only its failure: its models are not in the project, so remembering them would mislead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from agent.commands.naming import model_type_of
from graph.plan_spec import Feedback
from tools.layers import layer_of
from tools.memory.store import ProjectMemory

_PREFIXES = ("stg_", "int_", "fct_", "dim_")
_MAX_TEXT = 600


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
    folder = str(PurePosixPath(path).parent)
    memory.remember(
        "conventions",
        f"folder:{layer}",
        f"new {layer} models go in {folder}/",
        {"layer": layer, "folder": folder, "run_id": run_id},
    )
    prefix = next((p for p in _PREFIXES if name.startswith(p)), None)
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


def learn_from_run(
    memory: ProjectMemory, state: Mapping[str, Any], manifest: Mapping[str, Any], run_id: str
) -> None:
    """Write what the run in ``state`` (its final graph state) teaches; ``manifest`` is the project now."""
    if state.get("feedback"):
        _learn_failure(memory, state, run_id)
    if state.get("status") != "success":
        return
    nodes = manifest.get("nodes") or {}
    changed = dict.fromkeys([*state.get("created_nodes", []), *state.get("build_nodes", [])])
    for uid in changed:
        node = nodes.get(uid)
        if node and node.get("resource_type") == "model":
            _learn_model(memory, manifest, node, run_id)
