"""What Plan is told before it plans: the project's conventions and the closest past work."""

from __future__ import annotations

from typing import cast

from agent.memory.recalled import Recall
from tools.layers import Layer
from tools.memory.store import ProjectMemory

#: a past model or failure must share this much with the request to be worth telling Plan about
MIN_SIMILARITY = 0.25


def recall(memory: ProjectMemory, request: str, *, limit: int = 3) -> Recall:
    conventions = memory.items("conventions")
    folders = {
        cast(Layer, m.data["layer"]): str(m.data["folder"])
        for m in conventions
        if m.key.startswith("folder:")
    }
    prefixes = {
        str(m.data["model_type"]): str(m.data["prefix"]) for m in conventions if m.key.startswith("prefix:")
    }
    return Recall(
        folders=folders,
        prefixes=prefixes,
        models=[m.text for m in memory.search(request, ("models",), limit=limit, min_score=MIN_SIMILARITY)],
        failures=[
            m.text for m in memory.search(request, ("failures",), limit=limit, min_score=MIN_SIMILARITY)
        ],
        decisions=[m.text for m in memory.items("decisions")],
    )
