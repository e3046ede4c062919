"""What Plan is told before it plans: the project's conventions and the closest past work.

Only what is about the request: nothing for a command that plans no change, and of the past
failures only those on the same models or the same kind of change, never one the environment caused
(agent/memory/relevance.py).

Bounded whatever the store holds: the conventions are read by their keys, the decisions are the
newest few, and similarity is scored over the newest ``RECALL_SCAN`` models and failures only, so a
store filled with 20,000 imported memories costs a run what a few hundred do. Values come from a
store anyone with the project (or an import file) could fill, so a convention that is not the shape
learn.py writes is left out rather than followed.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import get_args

from agent.memory.recalled import Recall, cut
from agent.memory.relevance import (
    MIN_REQUEST_SIMILARITY,
    PastFailure,
    environment_fault,
    plans_no_change,
    relevance,
)
from tools.layers import MODEL_KINDS, Layer
from tools.memory.store import ProjectMemory

#: a past model must share this much with the request to be worth telling Plan about
MIN_SIMILARITY = 0.25
#: past models, and past failures, told to Plan
MAX_SIMILAR = 3
#: decisions told to Plan (the newest)
MAX_DECISIONS = 20
#: the newest models and failures recall scores for similarity
RECALL_SCAN = 500
_FOLDER = re.compile(r"[A-Za-z0-9_./-]{1,200}")


def _safe_folder(value: object) -> str | None:
    """A remembered folder the command planner may write under: relative, plain, no ``..``."""
    if not isinstance(value, str) or not _FOLDER.fullmatch(value):
        return None
    path = PurePosixPath(value)
    return value if not path.is_absolute() and ".." not in path.parts else None


def _conventions(memory: ProjectMemory) -> tuple[dict[Layer, str], dict[str, str]]:
    folders: dict[Layer, str] = {}
    for layer in get_args(Layer):
        found = memory.get("conventions", f"folder:{layer}")
        folder = _safe_folder(found.data.get("folder")) if found else None
        if folder is not None:
            folders[layer] = folder
    # the naming table's prefixes only (learn.py records no other): another one is not followed
    prefixes: dict[str, str] = {}
    for kind in MODEL_KINDS:
        found = memory.get("conventions", f"prefix:{kind.model_type}")
        if found is not None and found.data.get("prefix") == kind.prefix:
            prefixes[kind.model_type] = kind.prefix
    return folders, prefixes


def _failures(memory: ProjectMemory, request: str, limit: int) -> list[str]:
    """The past failures about ``request`` (relevance.py), most relevant and then newest first."""
    scored = []
    for order, failure in enumerate(memory.items("failures", limit=RECALL_SCAN)):
        if environment_fault(f"{failure.text}\n{failure.data.get('error', '')}"):
            continue  # stored by an older ae: the environment's fault is no lesson
        score = relevance(request, PastFailure.of(failure.data))
        if score >= MIN_REQUEST_SIMILARITY:
            scored.append((-score, order, cut(failure.text)))
    return [text for _, _, text in sorted(scored)[:limit]]


def recall(memory: ProjectMemory, request: str, *, limit: int = MAX_SIMILAR) -> Recall:
    if plans_no_change(request):
        return Recall()  # compile, lineage, docs, debug, test: nothing remembered changes their answer
    folders, prefixes = _conventions(memory)
    decisions = memory.items("decisions", limit=MAX_DECISIONS + 1)
    models = memory.search(request, ("models",), limit=limit, min_score=MIN_SIMILARITY, scan=RECALL_SCAN)
    return Recall(
        folders=folders,
        prefixes=prefixes,
        models=[cut(m.text) for m in models],
        failures=_failures(memory, request, limit),
        decisions=[cut(m.text) for m in decisions[:MAX_DECISIONS]],
        more_decisions=len(decisions) > MAX_DECISIONS,
    )
