"""`ae memory`: see and correct what ae believes about a project.

list, show, search, add (a decision), forget, export and import, each on the project's memory store
(agent/memory/project_memory.py). The parser imports nothing heavy: `ae --help` builds it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from agent.settings import Settings
    from tools.memory.store import Memory, ProjectMemory

HELP = "see and correct what ae remembers about the project (conventions, models, failures, decisions)"
KINDS_HELP = "conventions, models, failures or decisions"


def configure_parser(
    parser: argparse.ArgumentParser, add_project: Callable[[argparse.ArgumentParser], None]
) -> None:
    """The actions of `ae memory`; ``add_project`` adds --project and friends to each."""
    actions = parser.add_subparsers(dest="memory_action", metavar="ACTION", required=True)

    def action(name: str, text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = actions.add_parser(name, help=text, description=text)
        add_project(sub)
        sub.add_argument("--json", action="store_true", help="one JSON document on stdout")
        return sub

    listing = action("list", "every memory, newest first (optionally of one kind)")
    listing.add_argument("--kind", help=KINDS_HELP)
    show = action("show", "one memory with its data")
    show.add_argument("kind", help=KINDS_HELP)
    show.add_argument("key")
    search = action("search", "the memories most similar to a text (offline, hashed n-grams by default)")
    search.add_argument("query")
    search.add_argument("--kind", help=KINDS_HELP)
    search.add_argument("--limit", type=int, default=5, help="at most this many (default: 5)")
    add = action("add", 'remember a decision, e.g. "always use merge for facts"')
    add.add_argument("text")
    forget = action("forget", "delete one memory (KIND KEY) or every memory of a kind (KIND --all)")
    forget.add_argument("kind", help=KINDS_HELP)
    forget.add_argument("key", nargs="?")
    forget.add_argument("--all", action="store_true", help="every memory of KIND")
    export = action("export", "every memory as JSON (to stdout, or --out FILE)")
    export.add_argument("--out", type=Path, metavar="FILE")
    load = action("import", "write memories exported by `ae memory export` back")
    load.add_argument("file", type=Path)


def decision_key(text: str) -> str:
    """A stable key for a stated decision: the same sentence twice is one memory."""
    words = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    return "-".join(words)[:80] or "decision"


def remember_decision(memory: ProjectMemory, text: str, source: str) -> Memory:
    return memory.remember("decisions", decision_key(text), text.strip(), {"source": source})


def _render(memory: Memory) -> str:
    score = f" ({memory.score:.2f})" if memory.score is not None else ""
    return f"{memory.kind}/{memory.key}{score}: {memory.text}"


def _kinds(memory_kind: str | None) -> tuple[Any, ...]:
    from tools.memory.store import KINDS, checked_kind

    return (checked_kind(memory_kind),) if memory_kind else KINDS


def _act(memory: ProjectMemory, args: argparse.Namespace) -> tuple[Any, str]:
    """What the action did: (its JSON document, its text for a person)."""
    from tools.errors import InvalidArguments
    from tools.memory.store import checked_kind

    action = args.memory_action
    if action == "list":
        found = [m for kind in _kinds(args.kind) for m in memory.items(kind)]
        text = "\n".join(_render(m) for m in found) or "nothing remembered yet"
        return [m.as_dict() for m in found], text
    if action == "search":
        found = memory.search(args.query, _kinds(args.kind), limit=args.limit)
        return [m.as_dict() for m in found], "\n".join(_render(m) for m in found) or "nothing similar"
    if action == "show":
        one = memory.get(checked_kind(args.kind), args.key)
        if one is None:
            raise InvalidArguments(
                f"no memory {args.kind}/{args.key}", hint="`ae memory list` shows what is remembered"
            )
        return one.as_dict(), json.dumps(one.as_dict(), indent=2)
    if action == "add":
        added = remember_decision(memory, args.text, "cli")
        return added.as_dict(), f"remembered {_render(added)}"
    if action == "forget":
        if args.key is None and not args.all:
            raise InvalidArguments(
                f"forget what of {args.kind}?", hint=f"name a KEY, or pass --all to forget every {args.kind}"
            )
        gone = memory.forget(checked_kind(args.kind), args.key)
        return {"forgotten": gone}, f"forgot {gone} memor{'y' if gone == 1 else 'ies'}"
    if action == "export":
        records = memory.export()
        if args.out is not None:
            args.out.write_text(json.dumps(records, indent=2), encoding="utf-8")
            return {"exported": len(records), "file": str(args.out)}, f"wrote {len(records)} to {args.out}"
        return records, json.dumps(records, indent=2)
    loaded = memory.load(list(_read_export(args.file)))
    return {"imported": loaded}, f"imported {loaded} memories from {args.file}"


def _record_problem(record: object) -> str | None:
    """What is wrong with one record of an export file, or None when it can be imported."""
    from tools.memory.store import KINDS

    if not isinstance(record, dict):
        return f"is a {type(record).__name__}, not an object"
    missing = sorted({"kind", "key", "text"} - record.keys())
    if missing:
        return f"has no {', '.join(missing)}"
    if record["kind"] not in KINDS:
        return f"kind {str(record['kind'])[:40]!r} is not one of {', '.join(KINDS)}"
    if not isinstance(record["key"], str) or not isinstance(record["text"], str):
        return "key and text must be strings"
    if record.get("data") is not None and not isinstance(record["data"], dict):
        return f"data is a {type(record['data']).__name__}, not a mapping"
    return None


def _read_export(path: Path) -> list[Mapping[str, Any]]:
    from tools.errors import InvalidArguments

    hint = "give a file `ae memory export` wrote: a JSON list of {kind, key, text, data}"
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidArguments(f"cannot read {path}: {exc}", hint=hint) from None
    if not isinstance(records, list):
        raise InvalidArguments(
            f"{path} is not a memory export: a JSON list of {{kind, key, text, data}}", hint=hint
        )
    problems = [f"record {n}: {p}" for n, r in enumerate(records, 1) if (p := _record_problem(r))]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise InvalidArguments(
            f"{path} is not a memory export: {'; '.join(problems[:3])}{more}; nothing was imported",
            hint=hint,
        )
    return records


def run_memory(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    from agent.memory.project_memory import open_project_memory

    out = out or sys.stdout
    with open_project_memory(settings) as memory:
        document, text = _act(memory, args)
    print(json.dumps(document, indent=2) if args.json else text, file=out)
    return 0
