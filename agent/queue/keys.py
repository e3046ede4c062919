"""A task key used again: the same task (nothing new is enqueued), or refused naming the task it holds.

A key is the task's DBOS workflow id, and DBOS keeps a workflow id for good: unlike a deduplication
id, which DBOS frees when its workflow completes, a finished task's id still names that task. So a
key names one task forever. Adding the same task under it again (the same request, project, target,
priority and approval) names that task whatever its state, queued, running or finished; anything
else under it is refused, since enqueueing it would silently drop it.
"""

from __future__ import annotations

from agent.queue.batch import TaskSpec
from agent.queue.views import FINISHED, TaskView
from tools.errors import InvalidArguments


def differences(held: TaskView, asked: TaskSpec) -> list[str]:
    """What of ``asked`` is not as in the task that holds its key; empty: it is that task."""
    pairs = (
        ("request", " ".join(held.request.split()), " ".join(asked.request.split())),
        ("project", held.project, asked.project),
        ("target", held.target, asked.target),
        ("priority", held.priority, asked.priority),
        ("--yes", held.approved_by is not None, asked.approved_by is not None),
    )
    return [f"{name} {_shown(new)} (the task's: {_shown(old)})" for name, old, new in pairs if old != new]


def key_taken(held: TaskView, asked: TaskSpec, where: str = "") -> InvalidArguments | None:
    """The refusal of ``asked`` under the key ``held`` holds, or None when it is the same task."""
    differ = differences(held, asked)
    if not differ:
        return None
    prefix = f"{where}: " if where else ""
    return InvalidArguments(
        f"{prefix}key {held.id!r} is already task {held.id} ({held.status}): {held.request!r} on "
        f"{held.project}; this one differs: {'; '.join(differ)}",
        hint="give a different request another key (or none: ae makes one); a key names one task "
        f"for good, finished or not (`ae queue show {held.id}`)",
    )


def already(task: TaskView) -> str:
    """What ``ae queue add`` says of a task its key already named."""
    if task.status == "succeeded":
        then = "a new key runs the request again"
    elif task.status in FINISHED:
        then = f"`ae queue retry {task.id}` gives it another go"
    else:
        then = "the same key is the same task"
    return f"{task.id} (already {task.status}: {then})"


def _shown(value: str | int | bool | None) -> str:
    if value is None:
        return "the profile's default"
    if isinstance(value, bool):
        return "approved" if value else "not approved"
    return repr(value) if isinstance(value, str) else str(value)
