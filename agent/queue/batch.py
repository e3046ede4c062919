"""What one queued task is, and reading many of them from a batch file (``ae queue add --file``).

A batch file is a YAML list; each entry is a request string or a mapping with ``request`` and
optional ``project``, ``target``, ``key`` and ``priority``. A bad entry is reported with its line,
and a file with any bad entry enqueues nothing (so a fixed file can simply be added again).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from agent.queue.config import DEFAULT_PRIORITY, MAX_PRIORITY, TASK_ID
from agent.requests import check_request
from tools.errors import InvalidArguments

ENTRY_KEYS = frozenset({"request", "project", "target", "key", "priority"})


@dataclass(frozen=True)
class Approval:
    """Who approved building on a protected target, and when (``ae queue add --yes``)."""

    by: str
    at: str


@dataclass(frozen=True)
class TaskSpec:
    """A request as enqueued: the workflow's input, so only JSON-friendly fields."""

    request: str
    project: str
    target: str | None = None
    key: str | None = None
    priority: int = DEFAULT_PRIORITY
    approved_by: str | None = None
    approved_at: str | None = None

    def as_input(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_input(cls, data: dict[str, Any]) -> TaskSpec:
        return cls(**data)


@dataclass(frozen=True)
class Entry:
    """A task to enqueue and where it was given, which a message about it starts with (a batch
    file's ``path:line``; empty for the command line and MCP)."""

    task: TaskSpec
    where: str = ""


def check_key(key: str | None) -> str | None:
    if key is not None and not TASK_ID.match(key):
        raise InvalidArguments(
            f"bad task key {key!r}",
            hint="a key is 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return key


def check_priority(priority: int) -> int:
    if not 1 <= priority <= MAX_PRIORITY:
        raise InvalidArguments(f"bad priority {priority}", hint=f"a priority is 1 (first) to {MAX_PRIORITY}")
    return priority


def read_batch(path: Path, *, default_project: Path, approval: Approval | None) -> list[Entry]:
    """The tasks in ``path``; one InvalidArguments naming every bad entry's line if any is bad."""
    try:
        data = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidArguments(f"cannot read the batch file {path}: {exc.strerror}") from None
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise InvalidArguments(f"{path}:{line}: not valid YAML ({exc.problem})") from None
    if not isinstance(data, CommentedSeq):
        raise InvalidArguments(f"{path}: a batch file is a YAML list of requests", hint=_EXAMPLE)
    entries: list[Entry] = []
    problems: list[str] = []
    for index, entry in enumerate(data):
        where = f"{path}:{data.lc.item(index)[0] + 1}"
        try:
            task = _entry(entry, base=path.parent, default_project=default_project, approval=approval)
            entries.append(Entry(task, where))
        except InvalidArguments as exc:
            problems.append(f"{where}: {exc}")
    keys = [e.task.key for e in entries if e.task.key is not None]
    problems += [f"{path}: key {k!r} appears twice" for k in sorted({k for k in keys if keys.count(k) > 1})]
    if problems:
        raise InvalidArguments(
            "bad batch file, nothing was enqueued:\n  " + "\n  ".join(problems), hint=_EXAMPLE
        )
    return entries


_EXAMPLE = 'entries look like: - {request: "/dbt-run --select x", project: ../shop, key: x1, priority: 5}'


def _entry(entry: Any, *, base: Path, default_project: Path, approval: Approval | None) -> TaskSpec:
    if isinstance(entry, str):
        entry = {"request": entry}
    if not isinstance(entry, dict | CommentedMap):
        raise InvalidArguments(f"an entry is a request or a mapping, got {type(entry).__name__}")
    unknown = set(map(str, entry)) - ENTRY_KEYS
    if unknown:
        raise InvalidArguments(f"unknown fields {sorted(unknown)}; known: {', '.join(sorted(ENTRY_KEYS))}")
    request = entry.get("request")
    if not isinstance(request, str) or not request.strip():
        raise InvalidArguments("'request' is missing or not text")
    check_request(request)
    priority = entry.get("priority", DEFAULT_PRIORITY)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise InvalidArguments(f"'priority' must be a whole number, got {priority!r}")
    project = (base / str(entry["project"])).resolve() if "project" in entry else default_project
    if not (project / "dbt_project.yml").is_file():
        raise InvalidArguments(f"{project} has no dbt_project.yml")
    target = entry.get("target")
    return TaskSpec(
        request=request,
        project=str(project),
        target=str(target) if target is not None else None,
        key=check_key(str(entry["key"]) if "key" in entry else None),
        priority=check_priority(priority),
        approved_by=approval.by if approval else None,
        approved_at=approval.at if approval else None,
    )
