"""Which files a newer run changed too may still be undone by taking out only the run's own lines.

Undoing run A restores each file A wrote; a file a newer run B changed since is reverted three-way
(tools/revert_merge.py): A's lines come out, B's stay. The undo order (agent/undo_order.py) refuses
an undo while a newer run changed the same file, and reads what other files need only from files it
restores whole; so a file is let through here only when its reverted text leaves nothing that needs
what the undo removes. It stays blocking (as the same file, naming B) when the text left still names
a model or relation the undo removes (B's relationships test on A's model), when the revert takes
out a macro or a source others may use, or when it is a packages file (B may use A's package).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from graph.transaction import UndoPlan

_MACRO = re.compile(rb"{%-?\s*macro\b")
#: a package A added may be what B's models call: never reverted past B
_PACKAGE_FILES = frozenset({"packages.yml", "dependencies.yml", "package-lock.yml"})


def _sources(text: bytes) -> object:
    try:
        loaded = yaml.safe_load(text)
    except (yaml.YAMLError, UnicodeDecodeError):
        return None
    return loaded.get("sources") if isinstance(loaded, dict) else None


def through_revert(plan: UndoPlan) -> set[str]:
    """The files newer runs changed too that the undo may revert line by line (see the module doc)."""
    removed = {Path(path).stem for path in plan.removed_files() if path.endswith((".sql", ".py", ".csv"))}
    removed |= {relation.rsplit(".", 1)[-1] for relation in plan.dropped_relations()}
    named = re.compile(rb"\b(?:" + b"|".join(re.escape(n.encode()) for n in sorted(removed)) + rb")\b")
    through: set[str] = set()
    for path, text in plan.reverted_files().items():
        now = (plan.paths.root / path).read_bytes()
        if path in _PACKAGE_FILES or (removed and named.search(text)):
            continue
        if len(_MACRO.findall(text)) < len(_MACRO.findall(now)) or _sources(text) != _sources(now):
            continue
        through.add(path)
    return through
