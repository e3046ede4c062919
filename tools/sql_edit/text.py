"""Edits as splices of a file's text: every byte outside a splice stays the user's."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tools.errors import InvalidArguments


class EditRefused(InvalidArguments):
    """An edit that cannot be made safely on this model's text: the message says why, the hint what
    to do instead. Nothing was changed."""

    hint = "make this change by hand instead"


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def line_indent(text: str, offset: int) -> str:
    """The whitespace that starts the line holding ``offset``."""
    start = text.rfind("\n", 0, offset) + 1
    end = start
    while end < len(text) and text[end] in " \t":
        end += 1
    return text[start:end]


@dataclass(frozen=True)
class Splice:
    start: int
    end: int
    text: str


def apply_splices(text: str, splices: Iterable[Splice]) -> str:
    parts: list[str] = []
    position = 0
    for splice in sorted(splices, key=lambda s: (s.start, s.end)):
        if splice.start < position:
            raise AssertionError(f"overlapping edits at offset {splice.start}")
        parts += [text[position : splice.start], splice.text]
        position = splice.end
    parts.append(text[position:])
    return "".join(parts)


def past_line_comment(text: str, at: int) -> int:
    """Past a comment that ends the line at ``at`` (``-- ...`` or ``/* ... */``), so that text added
    there comes after the comment and the comment stays with its code."""
    line_end = text.find("\n", at)
    line_end = len(text) if line_end < 0 else line_end
    if line_end > at and text[line_end - 1] == "\r":
        line_end -= 1
    rest = text[at:line_end].strip()
    comment = rest.startswith("--") or (rest.startswith("/*") and rest.endswith("*/"))
    return line_end if comment else at


def newline_of(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"
