"""Taking one run's change out of a file that others changed since: a three-way revert, line by line.

A run turned ``before`` into ``after``; since then another run or the person turned ``after`` into
``now``. Undoing the run must remove the run's own lines and keep theirs (a shared ``schema.yml``
holding the undone model's entry and a newer run's entry). The reverse of the run's change
(``after`` -> ``before``, as difflib's opcodes) is applied to ``now`` hunk by hunk, like a patch with
no fuzz in the changed lines themselves:

- lines the run wrote (a replaced or added block) must stand in ``now`` exactly, together; they are
  swapped for what stood there before;
- lines the run removed go back where they were: between the same two neighbours, still side by
  side in ``now`` (when something was put in between, their place is a guess);
- where a hunk could go in more than one place, the lines around it in ``after`` (up to
  ``CONTEXT`` on each side) choose; a tie, or a block of blank lines with no context, is a conflict.

Every other line of ``now`` is kept byte for byte, line endings included. Anything else is a
conflict (None), and the caller keeps ``now`` and says so.

difflib rather than a merge package: the one on the package index (merge3) is GPL-2.0-or-later, and
a reverse-apply needs only difflib's opcodes and a search.
"""

from __future__ import annotations

from difflib import SequenceMatcher

import yaml

#: lines on each side of a hunk that place it when its lines occur more than once
CONTEXT = 3
_YAML_SUFFIXES = (".yml", ".yaml")
_LINE_ENDS = (b"\n", b"\r")


def _lines(data: bytes) -> list[bytes]:
    # bytes.splitlines breaks at \n, \r\n and \r only, and keepends makes the join exact
    return data.splitlines(keepends=True)


def _context(base: list[bytes], i1: int, i2: int, now: list[bytes], *, start: int, end: int) -> int:
    """How many lines around ``now[start:end]`` are the ones around ``base[i1:i2]``."""
    score = 0
    for back in range(1, CONTEXT + 1):
        if i1 - back < 0 or start - back < 0 or base[i1 - back] != now[start - back]:
            break
        score += 1
    for ahead in range(CONTEXT):
        if i2 + ahead >= len(base) or end + ahead >= len(now) or base[i2 + ahead] != now[end + ahead]:
            break
        score += 1
    return score


def _place(base: list[bytes], i1: int, i2: int, now: list[bytes], after: int) -> int | None:
    """Where in ``now`` (at or past ``after``) the run's lines ``base[i1:i2]`` stand, or where the lines
    it removed at ``i1`` go back; None when nowhere, or in more than one place equally well."""
    block = base[i1:i2]
    size = len(block)
    if size:
        found = [k for k in range(after, len(now) - size + 1) if now[k : k + size] == block]
    else:
        found = [
            k
            for k in range(after, len(now) + 1)
            if (k == 0) == (i1 == 0)
            and (k == len(now)) == (i1 == len(base))
            and (k == 0 or i1 == 0 or now[k - 1] == base[i1 - 1])
            and (k == len(now) or i1 == len(base) or now[k] == base[i1])
        ]
    scored = sorted(((_context(base, i1, i2, now, start=k, end=k + size), k) for k in found), reverse=True)
    if not scored or (len(scored) > 1 and scored[0][0] == scored[1][0]):
        return None
    best, at = scored[0]
    distinctive = any(line.strip() for line in block)
    if best == 0 and size and not distinctive:
        return None  # a lone blank line found somewhere else is not the run's
    return at


def _parses_as_yaml(data: bytes) -> bool:
    try:
        yaml.safe_load(data)
    except (yaml.YAMLError, UnicodeDecodeError):
        return False
    return True


def revert_change(before: bytes, after: bytes, now: bytes, *, path: str = "") -> bytes | None:
    """``now`` without the change that turned ``before`` into ``after``; None when that change does not
    come out cleanly (its lines were edited since, or something now stands where it removed lines).

    ``path`` (the file's name) makes a YAML file's result parse whenever ``now`` does."""
    base, wanted, current = _lines(after), _lines(before), _lines(now)
    out: list[bytes] = []
    kept = 0  # lines of ``current`` before this index are already in ``out``
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, base, wanted, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        start = _place(base, i1, i2, current, kept)
        if start is None:
            return None
        out += current[kept:start] + wanted[j1:j2]
        kept = start + (i2 - i1)
    out += current[kept:]
    if any(not line.endswith(_LINE_ENDS) for line in out[:-1]):
        return None  # a last line without its newline would be glued to the next one
    reverted = b"".join(out)
    if path.endswith(_YAML_SUFFIXES) and _parses_as_yaml(now) and not _parses_as_yaml(reverted):
        return None
    return reverted
