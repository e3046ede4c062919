"""Who holds a DuckDB file lock, so a WarehouseLocked error can say which process to look at.

DuckDB's lock error names the holder: ``Conflicting lock is held in /usr/bin/python3.11 (PID 4242)``.
The executable alone is not much help when every holder is a Python; ``/proc/<pid>/cmdline``
(Linux, same user) says which program it is.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tools.logs import redact

_PID = re.compile(r"\(PID (\d+)\)")
_MAX_COMMAND = 160


def _command_line(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    command = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    if len(command) > _MAX_COMMAND:
        command = command[: _MAX_COMMAND - 3] + "..."
    return redact(command) or None


def lock_holder(message: str) -> str | None:
    """``PID 4242 (`ae run ...`)`` from DuckDB's lock message, or None when it names no PID."""
    match = _PID.search(message)
    if match is None:
        return None
    pid = int(match.group(1))
    if pid == os.getpid():
        return f"PID {pid} (this process)"
    command = _command_line(pid)
    if command is None:
        return f"PID {pid}"
    if "tools.engine.child" in command:
        return f"PID {pid} (an ae dbt engine: `{command}`)"
    return f"PID {pid} (`{command}`)"


def locked_message(subject: str, detail: str) -> str:
    """``<subject> is locked by PID 4242 (...)``, falling back to DuckDB's own text."""
    holder = lock_holder(detail)
    return (
        f"{subject} is locked by {holder}" if holder else f"{subject} is locked by another process: {detail}"
    )
