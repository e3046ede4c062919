"""File tools for the planner: explore the dbt project and record edits into the changeset.

Reads see the project as the changeset would leave it (pending edits win over disk); writes only
record into ``ctx.changeset`` and never touch the disk; Validate applies the changeset later.
"""

from __future__ import annotations

import os
import re
from typing import Annotated

from pydantic import BaseModel, Field

from tools.changeset import FileChange
from tools.context import ToolContext
from tools.errors import InvalidArguments, PathRefused
from tools.model_guard import refuse_model_rewrite, refuse_package_file
from tools.paths import PROTECTED_DIRS
from tools.registry import tool
from tools.secrets import mask_secrets

# dbt's build output, logs and installed packages: noise for the planner, and not its to edit.
_GENERATED_TOP_DIRS = frozenset({"target", "logs", "dbt_packages"})
_DIFF_PREVIEW_LINES = 60
_VERBS = {"create": "created", "modify": "modified", "delete": "deleted"}


class FileListing(BaseModel):
    files: list[str]
    #: how many files matched before ``limit`` cut the list
    total: int
    truncated: bool


class FileExcerpt(BaseModel):
    path: str
    total_lines: int
    #: 1-based numbers of the first and last line shown
    first_line: int
    last_line: int
    #: True when the text comes from a pending change rather than the disk
    pending: bool
    text: str


@tool(read_only=True, family="files")
def list_files(
    ctx: ToolContext, pattern: str = "**/*", limit: Annotated[int, Field(ge=1, le=5000)] = 500
) -> FileListing:
    """List the project's files whose relative path matches a glob, as the pending changeset leaves
    them. Build output (target/, logs/, dbt_packages/) and the warehouse file are never listed.
    """
    matcher = _glob_regex(pattern)
    found = {rel for rel in _disk_files(ctx) if matcher.fullmatch(rel)}
    for change in ctx.changeset.changes:
        if change.op == "delete":
            found.discard(change.path)
        elif _listable(change.path) and matcher.fullmatch(change.path):
            found.add(change.path)
    ordered = sorted(found)
    return FileListing(files=ordered[:limit], total=len(ordered), truncated=len(ordered) > limit)


@tool(read_only=True, family="files")
def read_file(
    ctx: ToolContext,
    path: str,
    offset: Annotated[int, Field(ge=0)] = 0,
    limit: Annotated[int, Field(ge=1, le=5000)] = 400,
) -> FileExcerpt:
    """Read a text file of the project as the pending changeset would leave it, with line numbers."""
    rel = ctx.paths.normalise(path)
    content = ctx.changeset.view(ctx.paths, rel)
    if content is None:
        raise InvalidArguments(f"no file at {rel!r}", hint="use list_files to see what exists")
    lines = _split_lines(mask_secrets(content))  # line by line, so line numbers stay true
    if offset and offset >= len(lines):
        raise InvalidArguments(f"offset {offset} is past the end of {rel!r}, which has {len(lines)} lines")
    shown = lines[offset : offset + limit]
    return FileExcerpt(
        path=rel,
        total_lines=len(lines),
        first_line=offset + 1,
        last_line=offset + len(shown),
        pending=ctx.changeset.pending(rel) is not None,
        text="".join(f"{offset + i + 1:>6}\t{line}\n" for i, line in enumerate(shown)),
    )


@tool(read_only=False, family="files")
def write_file(ctx: ToolContext, path: str, content: str) -> str:
    """Create a file or replace its whole content (recorded in the changeset, applied in Validate);
    an existing model is refused (tools/model_guard.py): it is changed in place."""
    refuse_model_rewrite(ctx.paths.root, ctx.paths.normalise(path), _target_path(ctx))
    change = ctx.changeset.write_file(ctx.paths, path, content)
    return _summarise(ctx, path, change)


@tool(read_only=False, family="files")
def edit_file(ctx: ToolContext, path: str, old: str, new: str) -> str:
    """Replace one exact, unique piece of text in a file (recorded in the changeset)."""
    refuse_package_file(ctx.paths.root, ctx.paths.normalise(path))
    change = ctx.changeset.edit_file(ctx.paths, path, old, new)
    return _summarise(ctx, path, change)


@tool(read_only=False, family="files")
def delete_file(ctx: ToolContext, path: str) -> str:
    """Delete a file (recorded in the changeset, applied in Validate)."""
    refuse_package_file(ctx.paths.root, ctx.paths.normalise(path))
    change = ctx.changeset.delete_file(ctx.paths, path)
    return _summarise(ctx, path, change)


@tool(read_only=True, family="files")
def show_changeset(ctx: ToolContext) -> str:
    """Show every pending file change as a unified diff against the files on disk."""
    return mask_secrets(ctx.changeset.diff(ctx.paths)) or "no pending changes"


# --- helpers -----------------------------------------------------------------------------------


def diff_preview(ctx: ToolContext, paths: list[str], max_lines: int = _DIFF_PREVIEW_LINES) -> str:
    """The pending diff of ``paths``, secrets masked, cut after ``max_lines`` lines (saying so)."""
    diff_lines = [
        line for path in paths for line in mask_secrets(ctx.changeset.diff(ctx.paths, path)).splitlines()
    ]
    preview = "\n".join(diff_lines[:max_lines])
    if len(diff_lines) > max_lines:
        preview += f"\n... {len(diff_lines) - max_lines} more diff lines (show_changeset shows all)"
    return preview


def recorded(change: FileChange) -> str:
    """``modified models/orders.sql``: what a change records, in a word and its path."""
    return f"{_VERBS[change.op]} {change.path}"


def _summarise(ctx: ToolContext, path: str, change: FileChange | None) -> str:
    if change is None:
        rel = ctx.paths.normalise(path)
        return f"no change: {rel} on disk already has this content, so nothing is pending for it"
    return f"{recorded(change)} (pending in the changeset)\n{diff_preview(ctx, [change.path])}"


def _target_path(ctx: ToolContext) -> str | None:
    return ctx.engine.target_path if ctx.engine else None


def _disk_files(ctx: ToolContext) -> list[str]:
    files = []
    for directory, subdirs, names in os.walk(ctx.paths.root):
        rel_dir = os.path.relpath(directory, ctx.paths.root)
        # Prune in place so os.walk never descends into excluded trees (target/ can be large).
        subdirs[:] = [d for d in subdirs if _listable(d if rel_dir == "." else f"{rel_dir}/{d}")]
        for name in names:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if _listable(rel) and _inside_project(ctx, rel):
                files.append(rel)
    return files


def _listable(rel: str) -> bool:
    parts = rel.split("/")
    return parts[0] not in _GENERATED_TOP_DIRS and not PROTECTED_DIRS.intersection(parts)


def _inside_project(ctx: ToolContext, rel: str) -> bool:
    # The same checks the tools apply on read: drops the warehouse and symlinks that leave the root.
    try:
        ctx.paths.resolve(rel, must_exist=False)
    except PathRefused:
        return False
    return True


def _split_lines(content: str) -> list[str]:
    # Split on "\n" only, like the changeset's diff, so line numbers agree between the two.
    lines = content.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a path glob (`*`, `?`, `[...]`, `**/`) into a regex; `*` never crosses a `/`."""
    pattern = pattern.removeprefix("./")
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            if body.startswith("!"):
                body = "^" + body[1:]
            elif body.startswith("^"):
                body = "\\" + body
            out.append(f"[{body}]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))
