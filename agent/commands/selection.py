"""Catching a misspelt model in a ``--select`` before dbt runs (dbt itself would just select nothing)."""

from __future__ import annotations

import re

from agent.commands.project import ProjectView
from tools.errors import UnknownNode
from tools.manifest import close_matches

# a bare name with optional graph operators: +name, 2+name+3, @name
_PLAIN = re.compile(r"^(?:\d*\+|@)?(?P<name>[A-Za-z0-9_.]+)(?:\+\d*)?$")


def _known_words(view: ProjectView) -> set[str]:
    """Every word a bare selector can name: node names, folders and packages (fqn components)."""
    words: set[str] = set()
    for node in view.manifest.every():
        words.update(node.fqn)
        words.add(node.name)
    return words


def check_selection(view: ProjectView, selection: str) -> list[str]:
    """The selection's tokens; UnknownNode when a plain name matches nothing in the project."""
    tokens = selection.split()
    known: set[str] | None = None
    for token in tokens:
        for part in token.split(","):
            match = _PLAIN.match(part)
            if match is None or "*" in part:
                continue  # methods (tag:x), paths and globs: dbt resolves them, EmptySelection if none
            known = known if known is not None else _known_words(view)
            for word in match["name"].split("."):
                if word not in known:
                    models = sorted(view.models)
                    raise UnknownNode(
                        f"--select {part!r}: nothing in the project is named {word!r}"
                        f"{close_matches(word, sorted(known))}",
                        hint=f"models: {', '.join(models[:30]) or 'none yet'}",
                    )
    return tokens
