"""What a finished run teaches: its models, the conventions they follow, the failures it repaired.

Written at the end of every run that reached an end. A run that failed (and so rolled back) teaches
only its failure: its models are not in the project, so remembering them would mislead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from agent.memory.relevance import environment_fault
from graph.plan_spec import Feedback
from tools.layers import kind_of_name
from tools.manifest import Manifest, Node
from tools.memory.store import Memory, ProjectMemory

_MAX_TEXT = 600
#: the newest remembered models an undo looks through to teach a convention again
UNLEARN_SCAN = 500


def _learn_model(memory: ProjectMemory, node: Node, tests: list[Node], run_id: str) -> None:
    """Remember a model the run built, with ``tests``, the data tests attached to it."""
    config, path, layer = node.config, node.original_file_path, node.layer
    key = config.unique_key
    data = {
        "name": node.name,
        "path": path,
        "layer": layer,
        "materialized": config.materialized,
        "unique_key": list(key) if isinstance(key, tuple) else key,
        "incremental_strategy": config.incremental_strategy,
        "tests": sorted(f"{t.generic_test}({t.column_name or ''})" for t in tests if t.generic_test),
        "run_id": run_id,
    }
    keys = f", unique_key {data['unique_key']}" if data["unique_key"] else ""
    shown = f"; tests {', '.join(data['tests'])}" if data["tests"] else ""
    text = f"model {node.name} ({layer}, {data['materialized']}{keys}) at {path}{shown}"
    memory.remember("models", node.name, text, data)
    _learn_conventions(memory, node.name, layer, path, run_id)


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


def _teach_prefix(memory: ProjectMemory, name: str, run_id: str) -> None:
    kind = kind_of_name(name)
    if kind is not None:
        memory.remember(
            "conventions",
            f"prefix:{kind.model_type}",
            f"{kind.model_type} models are named {kind.prefix}<name>",
            {"model_type": kind.model_type, "prefix": kind.prefix, "run_id": run_id},
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


def learn_from_run(memory: ProjectMemory, state: Mapping[str, Any], manifest: Manifest, run_id: str) -> None:
    """Write what the run in ``state`` (its final graph state) teaches; ``manifest`` is the project now.
    A failure the environment caused (a missing or empty warehouse, a lock, ...) teaches nothing."""
    if state.get("feedback") and not _environment_caused(state):
        _learn_failure(memory, state, run_id)
    if state.get("status") != "success":
        return
    changed = dict.fromkeys([*state.get("created_nodes", []), *state.get("build_nodes", [])])
    for uid in changed:
        node = manifest.nodes.get(uid)
        if node and node.resource_type == "model":
            _learn_model(memory, node, manifest.tests_of(uid), run_id)


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
        kind = kind_of_name(name)
        if what == "prefix" and kind is not None and kind.model_type == value:
            _teach_prefix(memory, name, run_id)
            return True
    return False
